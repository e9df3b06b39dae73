import type { Shape, ShapeDescriptor, ShapeTypeName } from './shapes.js';
import { deepFreeze } from './deep-freeze.js';

/**
 * What a task type declares: its id, English name and description, and the mandatory slots.
 * Optional slots, enum values and defaults are not here: providers declare them (SEMANTICS.md §1).
 */
export interface TaskTypeDefinition {
  id: string;
  name: string;
  description: string;
  inputShape: Shape;
  outputShape: Shape;
  /**
   * Upstream's IInternalTaskType marker: clients (the assistant UI) hide such types from end users.
   * Absent means false, as for ExApps' custom types (upstream wraps them in a plain ITaskType).
   */
  isInternal?: boolean;
}

function slot(name: string, description: string, type: ShapeTypeName): ShapeDescriptor {
  return { name, description, type };
}

const SYSTEM_PROMPT = slot('System prompt', 'Define rules and assumptions that the assistant should follow during the conversation.', 'Text');
const CONFIRMATION = slot('Confirmation', 'Whether to confirm previously requested actions: 0 for denial and 1 for confirmation.', 'Number');
const CONVERSATION_TOKEN_IN = slot('Conversation token', 'A token representing the conversation.', 'Text');
const CONVERSATION_TOKEN_OUT = slot('The new conversation token', 'Send this along with the next interaction.', 'Text');
const ACTIONS = slot('Requested actions by the agent', 'Actions that the agent would like to carry out in JSON format.', 'Text');
const INPUT_ATTACHMENTS = slot('Input attachments', 'Files to send along with the chat message.', 'ListOfFiles');
const CHAT_MESSAGE_FOR_AGENT = slot('Chat message', 'A chat message to send to the agent.', 'Text');
const INPUT_TRANSCRIPT = slot('Input transcript', 'Transcription of the audio input', 'Text');
const VOICE_RESPONSE = slot('Response voice message', 'The generated voice response as part of the conversation', 'Audio');
const OUTPUT_TRANSCRIPT = slot('Output transcript', 'Transcription of the audio output', 'Text');

/**
 * The 29 core task types in the order upstream's Manager registers them (TASK_TYPES.md; the two multimodal types
 * and core:image2image as of Nextcloud 35, docs/UPSTREAM.md). `isInternal` marks upstream's IInternalTaskType ones.
 * Strings are the English upstream source strings, typos included, because clients show them.
 */
export const CORE_TASK_TYPES: readonly TaskTypeDefinition[] = deepFreeze<TaskTypeDefinition[]>([
  {
    id: 'core:text2text',
    name: 'Free text to text prompt',
    description: 'Runs an arbitrary prompt through a language model that returns a reply',
    inputShape: {
      input: slot('Prompt', 'Describe a task that you want the assistant to do or ask a question', 'Text'),
    },
    outputShape: { output: slot('Generated reply', 'The generated text from the assistant', 'Text') },
  },
  {
    id: 'core:text2text:topics',
    name: 'Extract topics',
    description: 'Extracts topics from a text and outputs them separated by commas',
    inputShape: { input: slot('Original text', 'The original text to extract topics from', 'Text') },
    outputShape: { output: slot('Topics', 'The list of extracted topics', 'Text') },
  },
  {
    id: 'core:text2text:headline',
    name: 'Generate a headline',
    description: 'Generates a possible headline for a text.',
    inputShape: { input: slot('Original text', 'The original text to generate a headline for', 'Text') },
    outputShape: { output: slot('Headline', 'The generated headline', 'Text') },
  },
  {
    id: 'core:text2text:summary',
    name: 'Summarize',
    description: 'Summarizes a text',
    inputShape: { input: slot('Original text', 'The original text to summarize', 'Text') },
    outputShape: { output: slot('Summary', 'The generated summary', 'Text') },
  },
  {
    id: 'core:text2text:formalization',
    name: 'Formalize text',
    description: 'Takes a text and makes it sound more formal',
    inputShape: { input: slot('Input text', 'Write a text that you want the assistant to formalize', 'Text') },
    outputShape: { output: slot('Formalized text', 'The formalized text', 'Text') },
  },
  {
    id: 'core:text2text:simplification',
    name: 'Simplify text',
    description: 'Takes a text and simplifies it',
    inputShape: { input: slot('Input text', 'Write a text that you want the assistant to simplify', 'Text') },
    outputShape: { output: slot('Simplified text', 'The simplified text', 'Text') },
  },
  {
    id: 'core:text2text:chat',
    name: 'Chat',
    description: 'Chat with the assistant',
    inputShape: {
      system_prompt: SYSTEM_PROMPT,
      input: slot('Chat message', 'Describe a task that you want the assistant to do or ask a question', 'Text'),
      history: slot('Chat history', 'The history of chat messages before the current message, starting with a message by the user', 'ListOfTexts'),
    },
    outputShape: { output: slot('Response message', 'The generated response as part of the conversation', 'Text') },
  },
  {
    id: 'core:text2text:translate',
    name: 'Translate',
    description: 'Translate text from one language to another',
    inputShape: {
      input: slot('Origin text', 'The text to translate', 'Text'),
      origin_language: slot('Origin language', 'The language of the origin text', 'Enum'),
      target_language: slot('Target language', 'The desired language to translate the origin text in', 'Enum'),
    },
    outputShape: { output: slot('Result', 'The translated text', 'Text') },
  },
  {
    id: 'core:text2text:reformulation',
    name: 'Reformulate text',
    description: 'Takes a text and reformulates it',
    inputShape: { input: slot('Input text', 'Write a text that you want the assistant to reformulate', 'Text') },
    outputShape: { output: slot('Reformulated text', 'The reformulated text, written by the assistant', 'Text') },
  },
  {
    id: 'core:text2text:improve',
    name: 'Improve text',
    description: 'Takes a text and improves it based on instructions',
    inputShape: {
      input: slot('Input text', 'Write a text that you want the assistant to improve', 'Text'),
      instructions: slot('Instructions', 'Describe how the assistant should improve the text', 'Text'),
    },
    outputShape: { output: slot('Improved text', 'The improved text', 'Text') },
  },
  {
    id: 'core:text2image',
    name: 'Generate image',
    description: 'Generate an image from a text prompt',
    inputShape: {
      input: slot('Prompt', 'Describe the image you want to generate', 'Text'),
      numberOfImages: slot('Number of images', 'How many images to generate', 'Number'),
    },
    outputShape: { images: slot('Output images', 'The generated images', 'ListOfImages') },
  },
  {
    id: 'core:audio2text',
    name: 'Transcribe audio',
    description: 'Transcribe the things said in an audio',
    inputShape: { input: slot('Audio input', 'The audio to transcribe', 'Audio') },
    outputShape: { output: slot('Transcription', 'The transcribed text', 'Text') },
  },
  {
    id: 'core:audio2text:subtitles',
    name: 'Generate subtitles',
    description: 'Subtitle the things said in an audio or video',
    inputShape: { input: slot('Input file', 'The file to subtitle', 'File') },
    outputShape: { output: slot('Subtitles', 'The subtitles file', 'File') },
  },
  {
    id: 'core:contextwrite',
    name: 'Context write',
    description: 'Writes text in a given style based on the provided source material.',
    inputShape: {
      style_input: slot('Writing style', 'Demonstrate a writing style that you would like to immitate', 'Text'),
      source_input: slot('Source material', 'The content that would like to be rewritten in the new writing style', 'Text'),
    },
    outputShape: {
      output: slot('Generated text', 'The generated text with content from the source material in the given style', 'Text'),
    },
  },
  {
    id: 'core:generateemoji',
    name: 'Emoji generator',
    description: 'Takes text and generates a representative emoji for it.',
    inputShape: { input: slot('Input text', 'The text to generate an emoji for', 'Text') },
    outputShape: { output: slot('Generated emoji', 'The generated emoji based on the input text', 'Text') },
  },
  {
    id: 'core:text2text:changetone',
    name: 'Change Tone',
    description: 'Change the tone of a piece of text.',
    inputShape: {
      input: slot('Input text', 'Write a text that you want the assistant to rewrite in another tone.', 'Text'),
      tone: slot('Desired tone', 'In which tone should your text be rewritten?', 'Enum'),
    },
    outputShape: {
      output: slot('Generated response', 'The rewritten text in the desired tone, written by the assistant:', 'Text'),
    },
  },
  {
    id: 'core:text2text:chatwithtools',
    name: 'Chat with tools',
    description: 'Chat with the language model with tool calling support.',
    isInternal: true,
    inputShape: {
      system_prompt: SYSTEM_PROMPT,
      input: slot('Chat message', 'Describe a task that you want the assistant to do or ask a question', 'Text'),
      tool_message: slot('Tool message', 'The result of tool calls in the last interaction', 'Text'),
      history: slot('Chat history', 'The history of chat messages before the current message, starting with a message by the user', 'ListOfTexts'),
      tools: slot('Available tools', 'The available tools in JSON format', 'Text'),
    },
    outputShape: {
      output: slot('Generated response', 'The response from the chat model', 'Text'),
      tool_calls: slot('Tool calls', 'Tools call instructions from the model in JSON format', 'Text'),
    },
  },
  {
    id: 'core:text2text:multimodal-chatwithtools',
    name: 'Chat with tools using attachments',
    description: 'Chat with the language model with tool calling support and attachments.',
    isInternal: true,
    inputShape: {
      system_prompt: SYSTEM_PROMPT,
      input: slot('Chat message', 'Describe a task that you want the assistant to do or ask a question', 'Text'),
      input_attachments: INPUT_ATTACHMENTS,
      tool_message: slot('Tool message', 'The result of tool calls in the last interaction', 'Text'),
      history: slot('Chat history', 'The history of chat messages before the current message, starting with a message by the user', 'ListOfTexts'),
      tools: slot('Available tools', 'The available tools in JSON format', 'Text'),
    },
    outputShape: {
      output: slot('Generated response', 'The response from the chat model', 'Text'),
      output_attachments: slot('Output attachments', 'Files generated by the model.', 'ListOfFiles'),
      tool_calls: slot('Tool calls', 'Tools call instructions from the model in JSON format', 'Text'),
    },
  },
  {
    id: 'core:contextagent:interaction',
    name: 'ContextAgent',
    description: 'Chat with an agent',
    isInternal: true,
    inputShape: {
      input: CHAT_MESSAGE_FOR_AGENT,
      confirmation: CONFIRMATION,
      conversation_token: CONVERSATION_TOKEN_IN,
    },
    outputShape: {
      output: slot('Generated response', 'The response from the chat model.', 'Text'),
      conversation_token: CONVERSATION_TOKEN_OUT,
      actions: ACTIONS,
    },
  },
  {
    id: 'core:text2text:proofread',
    name: 'Proofread',
    description: 'Proofreads a text and lists corrections',
    inputShape: { input: slot('Text', 'The text to proofread', 'Text') },
    outputShape: { output: slot('Corrections', 'The corrections that should be made in your text', 'Text') },
  },
  {
    id: 'core:text2text:reformatparagraphs',
    name: 'Reformat paragraphs',
    description: 'Reformats a text into multiple paragraphs separated by topic',
    isInternal: true,
    inputShape: { input: slot('Text', 'The text to reformat', 'Text') },
    outputShape: {
      output: slot('Reformatted text', 'The reformatted text with paragraphs separated by topic', 'Text'),
    },
  },
  {
    id: 'core:text2speech',
    name: 'Generate speech',
    description: 'Generate speech from a transcript',
    inputShape: {
      input: slot('Prompt', 'Write transcript that you want the assistant to generate speech from', 'Text'),
    },
    outputShape: { speech: slot('Output speech', 'The generated speech', 'Audio') },
  },
  {
    id: 'core:audio2audio:chat',
    name: 'Audio chat',
    description: 'Voice chat with the assistant',
    isInternal: true,
    inputShape: {
      system_prompt: SYSTEM_PROMPT,
      input: slot('Chat voice message', 'Describe a task that you want the assistant to do or ask a question.', 'Audio'),
      history: slot('Chat history', 'The history of chat messages before the current message, starting with a message by the user.', 'ListOfTexts'),
    },
    outputShape: {
      input_transcript: INPUT_TRANSCRIPT,
      output: VOICE_RESPONSE,
      output_transcript: OUTPUT_TRANSCRIPT,
    },
  },
  {
    id: 'core:audio2audio:translate',
    name: 'Translate audio',
    description: 'Translates the speech of an audio file or recording and outputs an audio file in the desired language.',
    inputShape: {
      input: slot('Input audio', 'The audio file or recording to translate', 'Audio'),
      origin_language: slot('Origin language', 'The language of the origin audio', 'Enum'),
      target_language: slot('Target language', 'The desired language to translate the origin audio in', 'Enum'),
    },
    outputShape: { audio_output: slot('Audio output', 'The audio translation', 'Audio') },
  },
  {
    id: 'core:contextagent:audio-interaction',
    // Upstream returns this name untranslated on purpose.
    name: 'ContextAgent audio',
    description: 'Chat by voice with an agent',
    isInternal: true,
    inputShape: {
      input: slot('Chat voice message', 'Describe a task that you want the agent to do or ask a question.', 'Audio'),
      confirmation: CONFIRMATION,
      conversation_token: CONVERSATION_TOKEN_IN,
    },
    outputShape: {
      input_transcript: INPUT_TRANSCRIPT,
      output: VOICE_RESPONSE,
      output_transcript: OUTPUT_TRANSCRIPT,
      conversation_token: CONVERSATION_TOKEN_OUT,
      actions: ACTIONS,
    },
  },
  {
    id: 'core:contextagent:multimodal-interaction',
    // Upstream returns this name untranslated on purpose.
    name: 'ContextAgent multimodal',
    description: 'Chat with an agent using attachments',
    isInternal: true,
    // The newer upstream form (memories in, sources out), not the first one of PR #61963.
    inputShape: {
      input: CHAT_MESSAGE_FOR_AGENT,
      input_attachments: INPUT_ATTACHMENTS,
      confirmation: CONFIRMATION,
      conversation_token: CONVERSATION_TOKEN_IN,
      memories: slot('Memories', 'Memories to send to the agent.', 'ListOfTexts'),
    },
    outputShape: {
      output: slot('Generated response', 'The response from the chat model.', 'Text'),
      output_attachments: slot('Output attachments', 'Files generated by the agent.', 'ListOfFiles'),
      conversation_token: CONVERSATION_TOKEN_OUT,
      actions: ACTIONS,
      sources: slot('Sources', 'Sources of the generated response.', 'ListOfTexts'),
    },
  },
  {
    id: 'core:analyze-images',
    name: 'Analyze images',
    description: 'Ask a question about the given images.',
    inputShape: {
      images: slot('Images', 'Images to ask a question about', 'ListOfImages'),
      input: slot('Question', 'What to ask about the images.', 'Text'),
    },
    outputShape: { output: slot('Generated response', 'The answer to the question', 'Text') },
  },
  {
    id: 'core:image2text:ocr',
    name: 'Optical character recognition',
    description: 'Extract text from files like images or PDFs',
    inputShape: { input: slot('Input files', 'The files to extract text from', 'ListOfFiles') },
    outputShape: { output: slot('Output texts', 'The texts that were extracted from the files', 'ListOfTexts') },
  },
  {
    id: 'core:image2image',
    name: 'Edit image',
    description: 'Edit an image based on a text description of the changes',
    inputShape: {
      input: slot('Input images', 'The images to edit', 'ListOfImages'),
      prompt: slot('Prompt', 'Describe the changes you want to make to the image', 'Text'),
    },
    outputShape: { output: slot('Output image', 'The edited image', 'Image') },
  },
]);

/**
 * The task types known to the server: the core catalogue plus custom types that ExApps register.
 * Like upstream's Manager, a registration with an existing id replaces that type where it stands,
 * even a core one. Knows nothing about providers, so it does not decide availability.
 */
export class TaskTypeRegistry {
  private readonly types = new Map<string, TaskTypeDefinition>();
  private readonly core: ReadonlyMap<string, TaskTypeDefinition>;

  constructor(types: readonly TaskTypeDefinition[] = CORE_TASK_TYPES) {
    for (const t of types) this.types.set(t.id, t);
    this.core = new Map(this.types);
  }

  get(id: string): TaskTypeDefinition | undefined {
    return this.types.get(id);
  }

  has(id: string): boolean {
    return this.types.has(id);
  }

  /** In registration order; a replaced type keeps its original position. */
  all(): TaskTypeDefinition[] {
    return [...this.types.values()];
  }

  register(def: TaskTypeDefinition): void {
    this.types.set(def.id, def);
  }

  /**
   * Removes a custom type. A core id is never removed: if a custom registration had replaced it,
   * the core definition comes back, as upstream's list does once the overriding ExApp is gone.
   * Returns whether the registry changed.
   */
  unregister(id: string): boolean {
    const coreDef = this.core.get(id);
    if (coreDef === undefined) return this.types.delete(id);
    if (this.types.get(id) === coreDef) return false;
    this.types.set(id, coreDef);
    return true;
  }
}
