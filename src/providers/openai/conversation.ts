import type {
  ChatCompletionContentPart,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { FunctionDefinition } from 'openai/resources/shared';
import { ProviderError } from '../../core/provider.js';
import type { TaskIO } from '../../core/shapes.js';
import { text } from './prompts.js';

/**
 * A tool call as Nextcloud's assistant apps exchange it (integration_openai's output, which the
 * context_agent app reads): the function's name, the call id, and the arguments decoded.
 */
export interface NextcloudToolCall {
  name: string;
  id: string;
  args: Record<string, unknown>;
}

const INVALID_HISTORY = 'The chat history is not valid';
const INVALID_TOOLS = 'The tool definitions are not valid';
const INVALID_TOOL_MESSAGE = 'The tool results are not valid';

/**
 * Messages for chat and chat with tools: the system prompt, the history (JSON strings, role
 * "human" meaning the user), the tool results of the last turn, then the new message. With tools,
 * an empty message is allowed: the turn then only hands back tool results. `attachments` (the
 * multimodal chat's images) go in the new user message, after its text.
 */
export function conversationMessages(input: TaskIO, withTools: boolean, attachments: readonly ChatCompletionContentPart[] = []): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [];
  const system = text(input, 'system_prompt', true);
  if (system.trim() !== '') messages.push({ role: 'system', content: system });
  messages.push(...historyMessages(input.history));
  const message = text(input, 'input');
  const toolResults = withTools ? toolMessages(text(input, 'tool_message', true)) : [];
  // Tool results go right after the history: OpenAI requires them to follow the assistant
  // message that asked for the calls (upstream puts them after the new message).
  messages.push(...toolResults);
  if (attachments.length > 0) {
    const textPart: ChatCompletionContentPart[] = message.trim() === '' ? [] : [{ type: 'text', text: message }];
    messages.push({ role: 'user', content: [...textPart, ...attachments] });
  } else if (message.trim() !== '') {
    messages.push({ role: 'user', content: message });
  } else if (toolResults.length === 0) {
    throw new ProviderError('input.input is empty and there are no tool results', 'The message is empty');
  }
  return messages;
}

function historyMessages(history: unknown): ChatCompletionMessageParam[] {
  if (history === undefined || history === null) return [];
  if (!Array.isArray(history)) throw new ProviderError('input.history must be a list', INVALID_HISTORY);
  return history.map((entry, i) => {
    const at = `input.history[${i}]`;
    const m = parseJson(entry, at, INVALID_HISTORY);
    if (!isObject(m)) throw new ProviderError(`${at} must be a JSON object with "role" and "content"`, INVALID_HISTORY);
    const content = typeof m.content === 'string' ? m.content : m.content === undefined || m.content === null ? '' : JSON.stringify(m.content);
    switch (m.role) {
      case 'human':
      case 'user':
        return { role: 'user', content };
      case 'system':
        return { role: 'system', content };
      case 'assistant': {
        const calls = Array.isArray(m.tool_calls) && m.tool_calls.length > 0 ? m.tool_calls.map((c, j) => openaiToolCall(c, `${at}.tool_calls[${j}]`)) : null;
        return calls === null ? { role: 'assistant', content } : { role: 'assistant', content: content === '' ? null : content, tool_calls: calls };
      }
      case 'tool':
        return { role: 'tool', tool_call_id: String(m.tool_call_id ?? ''), content };
      default:
        throw new ProviderError(`${at} has the unknown role ${JSON.stringify(m.role)} (expected human, assistant, system or tool)`, INVALID_HISTORY);
    }
  });
}

/** History tool calls come back in Nextcloud's shape ({name, id, args}); OpenAI's own shape passes through. */
function openaiToolCall(call: unknown, at: string): ChatCompletionMessageToolCall {
  if (!isObject(call)) throw new ProviderError(`${at} must be an object`, INVALID_HISTORY);
  const fn = call.function;
  if (isObject(fn)) {
    return {
      id: String(call.id ?? ''),
      type: 'function',
      function: { name: String(fn.name ?? ''), arguments: typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {}) },
    };
  }
  return { id: String(call.id ?? ''), type: 'function', function: { name: String(call.name ?? ''), arguments: JSON.stringify(call.args ?? {}) } };
}

/** `tool_message`: one result or a list of them, each `{tool_call_id, content}` (content may be any JSON). */
function toolMessages(raw: string): ChatCompletionMessageParam[] {
  if (raw.trim() === '') return [];
  const parsed = parseJson(raw, 'input.tool_message', INVALID_TOOL_MESSAGE);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((m, i) => {
    if (!isObject(m) || (m.tool_call_id === undefined && m.id === undefined)) {
      throw new ProviderError(`input.tool_message[${i}] must be an object with "tool_call_id" and "content"`, INVALID_TOOL_MESSAGE);
    }
    const content = typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '');
    return { role: 'tool', tool_call_id: String(m.tool_call_id ?? m.id), content };
  });
}

/** `tools`: a JSON list of OpenAI tool definitions; bare function definitions are wrapped. Empty: no tools. */
export function parseTools(raw: string): ChatCompletionTool[] | undefined {
  if (raw.trim() === '') return undefined;
  const parsed = parseJson(raw, 'input.tools', INVALID_TOOLS);
  if (!Array.isArray(parsed)) throw new ProviderError('input.tools must be a JSON list of tool definitions', INVALID_TOOLS);
  if (parsed.length === 0) return undefined;
  return parsed.map((tool, i) => {
    if (isObject(tool) && isObject(tool.function)) return tool as unknown as ChatCompletionTool;
    if (isObject(tool) && typeof tool.name === 'string') return { type: 'function', function: tool as unknown as FunctionDefinition };
    throw new ProviderError(`input.tools[${i}] is not a tool definition ({"type": "function", "function": {"name": ...}})`, INVALID_TOOLS);
  });
}

/** Converts accumulated OpenAI tool calls to Nextcloud's shape; arguments that are not a JSON object become {}. */
export function nextcloudToolCalls(calls: readonly { id: string; name: string; arguments: string }[]): NextcloudToolCall[] {
  return calls.map((c) => {
    let args: unknown;
    try {
      args = JSON.parse(c.arguments === '' ? '{}' : c.arguments);
    } catch {
      args = {};
    }
    return { name: c.name, id: c.id, args: isObject(args) ? args : {} };
  });
}

function parseJson(raw: unknown, at: string, userMessage: string): unknown {
  if (typeof raw !== 'string') throw new ProviderError(`${at} must be a JSON string`, userMessage);
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new ProviderError(`${at} is not valid JSON: ${(err as Error).message}`, userMessage);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
