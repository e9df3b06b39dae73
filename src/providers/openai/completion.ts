import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { ProviderError } from '../../core/provider.js';
import type { CallScope, Target } from './call.js';
import { nextcloudToolCalls, type NextcloudToolCall } from './conversation.js';
import { MalformedAnswerError, USER_MESSAGES } from './errors.js';
import { looksLikeHtml } from './media-types.js';

export interface CompletionRequest {
  model: string;
  messages: ChatCompletionMessageParam[];
  tools: ChatCompletionTool[] | undefined;
  maxTokens: number | undefined;
  /** Chat with tools: an answer may be tool calls alone. */
  allowEmptyContent: boolean;
}

export interface CompletionResult {
  content: string;
  toolCalls: NextcloudToolCall[];
}

interface Accumulated {
  content: string;
  calls: { id: string; name: string; arguments: string }[];
  finishReason: string | null;
}

/**
 * One chat completion, streamed when the back end allows it (then `onText` hears the text so far, and every chunk restarts the time-out). A back end that answers a streaming
 * request with plain JSON is understood too. Runs inside runCall, so what it throws is mapped there.
 */
export async function complete(target: Target, scope: CallScope, req: CompletionRequest, onText: (textSoFar: string) => void): Promise<CompletionResult> {
  const body = {
    model: req.model,
    messages: req.messages,
    ...(req.tools ? { tools: req.tools } : {}),
    ...(req.maxTokens ? { max_tokens: req.maxTokens } : {}),
  };
  let answer: Accumulated;
  if (target.backend.stream) {
    const { data: stream, response } = await target.client.chat.completions.create({ ...body, stream: true }, scope.options).withResponse();
    const type = response.headers.get('content-type') ?? '';
    if (/json/i.test(type)) {
      answer = fromCompletion(await response.json());
    } else if (!/event-stream/i.test(type)) {
      const sample = await response.text();
      throw new MalformedAnswerError(`a streaming request was answered with ${describeBody(type, sample)} instead of an event stream`);
    } else {
      answer = { content: '', calls: [], finishReason: null };
      let sawChoice = false;
      for await (const chunk of stream) {
        scope.kick();
        const choice = (chunk as { choices?: unknown }).choices;
        const first = Array.isArray(choice) ? (choice[0] as Record<string, unknown> | undefined) : undefined;
        if (!first || typeof first !== 'object') continue;
        sawChoice = true;
        const delta = (first.delta ?? {}) as { content?: unknown; tool_calls?: unknown };
        if (typeof delta.content === 'string' && delta.content !== '') {
          answer.content += delta.content;
          onText(answer.content);
        }
        if (Array.isArray(delta.tool_calls)) addToolCallDeltas(answer.calls, delta.tool_calls);
        if (typeof first.finish_reason === 'string') answer.finishReason = first.finish_reason;
      }
      if (!sawChoice) throw new MalformedAnswerError('the event stream carried no choices');
    }
  } else {
    answer = fromCompletion(await target.client.chat.completions.create(body, scope.options));
  }
  const toolCalls = nextcloudToolCalls(answer.calls.filter((c) => c.name !== ''));
  if (answer.content.trim() === '' && !(req.allowEmptyContent && toolCalls.length > 0)) {
    if (answer.finishReason === 'content_filter')
      throw new ProviderError('The answer was withheld by the content filter (finish_reason "content_filter")', USER_MESSAGES.filtered);
    throw new MalformedAnswerError(`the model returned an empty answer (finish_reason ${JSON.stringify(answer.finishReason)})`);
  }
  return { content: answer.content, toolCalls };
}

/** Stream deltas carry each tool call in pieces, keyed by `index`: the id and name first, the arguments in fragments. */
function addToolCallDeltas(calls: Accumulated['calls'], deltas: unknown[]): void {
  for (const d of deltas) {
    if (typeof d !== 'object' || d === null) continue;
    const delta = d as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } };
    const index = typeof delta.index === 'number' ? delta.index : calls.length;
    const call = calls[index] ?? { id: '', name: '', arguments: '' };
    calls[index] = call;
    if (typeof delta.id === 'string') call.id = delta.id;
    if (typeof delta.function?.name === 'string') call.name += delta.function.name;
    if (typeof delta.function?.arguments === 'string') call.arguments += delta.function.arguments;
  }
}

/** A non-streamed completion, checked field by field: the client does not validate answers. */
function fromCompletion(raw: unknown): Accumulated {
  if (typeof raw === 'string') throw new MalformedAnswerError(`the answer is ${describeBody('', raw)}, not JSON`);
  if (typeof raw !== 'object' || raw === null) throw new MalformedAnswerError('the answer is not a JSON object');
  const choices = (raw as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) throw new MalformedAnswerError('the answer has no "choices" list');
  if (choices.length === 0) throw new MalformedAnswerError('the answer has an empty "choices" list');
  const first = choices[0] as { message?: unknown; finish_reason?: unknown } | null;
  const message = first?.message as { content?: unknown; tool_calls?: unknown } | undefined;
  if (typeof message !== 'object' || message === null) throw new MalformedAnswerError('the first choice has no message');
  const calls: Accumulated['calls'] = [];
  if (Array.isArray(message.tool_calls)) {
    for (const c of message.tool_calls as { id?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) {
      if (typeof c?.function?.name !== 'string') continue;
      calls.push({
        id: String(c.id ?? ''),
        name: c.function.name,
        arguments: typeof c.function.arguments === 'string' ? c.function.arguments : JSON.stringify(c.function.arguments ?? {}),
      });
    }
  }
  return {
    content: typeof message.content === 'string' ? message.content : '',
    calls,
    finishReason: typeof first?.finish_reason === 'string' ? first.finish_reason : null,
  };
}

function describeBody(contentType: string, sample: string): string {
  if (looksLikeHtml(sample)) return 'an HTML page';
  const snippet = sample.trim().slice(0, 80).replace(/\s+/g, ' ');
  return `${contentType || 'a body without content type'}${snippet ? ` ("${snippet}")` : ' (empty)'}`;
}
