import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CORE_TASK_TYPES, TaskTypeRegistry, type TaskTypeDefinition } from '../../src/core/task-types.js';
import { SHAPE_TYPE } from '../../src/core/shapes.js';

const MANAGER_ORDER = [
  'core:text2text',
  'core:text2text:topics',
  'core:text2text:headline',
  'core:text2text:summary',
  'core:text2text:formalization',
  'core:text2text:simplification',
  'core:text2text:chat',
  'core:text2text:translate',
  'core:text2text:reformulation',
  'core:text2text:improve',
  'core:text2image',
  'core:audio2text',
  'core:audio2text:subtitles',
  'core:contextwrite',
  'core:generateemoji',
  'core:text2text:changetone',
  'core:text2text:chatwithtools',
  'core:text2text:multimodal-chatwithtools',
  'core:contextagent:interaction',
  'core:text2text:proofread',
  'core:text2text:reformatparagraphs',
  'core:text2speech',
  'core:audio2audio:chat',
  'core:audio2audio:translate',
  'core:contextagent:audio-interaction',
  'core:contextagent:multimodal-interaction',
  'core:analyze-images',
  'core:image2text:ocr',
  'core:image2image',
];

function core(id: string): TaskTypeDefinition {
  const def = CORE_TASK_TYPES.find((t) => t.id === id);
  assert.ok(def, id);
  return def;
}

describe('CORE_TASK_TYPES', () => {
  it('lists the 29 core types once each, in the Manager registration order', () => {
    const ids = CORE_TASK_TYPES.map((t) => t.id);
    assert.equal(ids.length, 29);
    assert.equal(new Set(ids).size, 29);
    assert.deepEqual(ids, MANAGER_ORDER);
  });

  it('uses only known shape types and non-empty strings', () => {
    for (const t of CORE_TASK_TYPES) {
      assert.ok(t.name && t.description, t.id);
      for (const shape of [t.inputShape, t.outputShape]) {
        assert.ok(Object.keys(shape).length > 0, t.id);
        for (const d of Object.values(shape)) {
          assert.ok(d.name && d.description, t.id);
          assert.ok(d.type in SHAPE_TYPE, `${t.id}: ${d.type}`);
        }
      }
    }
  });

  it('is frozen, so no caller can change the catalogue', () => {
    assert.ok(Object.isFrozen(CORE_TASK_TYPES));
    assert.ok(Object.isFrozen(core('core:text2text').inputShape.input));
  });

  it('has the exact strings of core:text2text:chat', () => {
    assert.deepEqual(core('core:text2text:chat'), {
      id: 'core:text2text:chat',
      name: 'Chat',
      description: 'Chat with the assistant',
      inputShape: {
        system_prompt: {
          name: 'System prompt',
          description: 'Define rules and assumptions that the assistant should follow during the conversation.',
          type: 'Text',
        },
        input: {
          name: 'Chat message',
          description: 'Describe a task that you want the assistant to do or ask a question',
          type: 'Text',
        },
        history: {
          name: 'Chat history',
          description: 'The history of chat messages before the current message, starting with a message by the user',
          type: 'ListOfTexts',
        },
      },
      outputShape: {
        output: {
          name: 'Response message',
          description: 'The generated response as part of the conversation',
          type: 'Text',
        },
      },
    });
  });

  it('has the exact strings of core:text2text:translate', () => {
    assert.deepEqual(core('core:text2text:translate'), {
      id: 'core:text2text:translate',
      name: 'Translate',
      description: 'Translate text from one language to another',
      inputShape: {
        input: { name: 'Origin text', description: 'The text to translate', type: 'Text' },
        origin_language: { name: 'Origin language', description: 'The language of the origin text', type: 'Enum' },
        target_language: {
          name: 'Target language',
          description: 'The desired language to translate the origin text in',
          type: 'Enum',
        },
      },
      outputShape: { output: { name: 'Result', description: 'The translated text', type: 'Text' } },
    });
  });

  it('keeps the trailing colon of changetone and the "immitate" typo of contextwrite', () => {
    const tone = core('core:text2text:changetone');
    assert.equal(tone.name, 'Change Tone');
    assert.equal(tone.description, 'Change the tone of a piece of text.');
    assert.deepEqual(tone.inputShape.tone, {
      name: 'Desired tone',
      description: 'In which tone should your text be rewritten?',
      type: 'Enum',
    });
    assert.equal(tone.outputShape.output?.description, 'The rewritten text in the desired tone, written by the assistant:');
    assert.equal(core('core:contextwrite').inputShape.style_input?.description, 'Demonstrate a writing style that you would like to immitate');
  });

  it('has the exact strings of core:text2image', () => {
    assert.deepEqual(core('core:text2image'), {
      id: 'core:text2image',
      name: 'Generate image',
      description: 'Generate an image from a text prompt',
      inputShape: {
        input: { name: 'Prompt', description: 'Describe the image you want to generate', type: 'Text' },
        numberOfImages: { name: 'Number of images', description: 'How many images to generate', type: 'Number' },
      },
      outputShape: { images: { name: 'Output images', description: 'The generated images', type: 'ListOfImages' } },
    });
  });

  it('has the exact strings of core:contextagent:audio-interaction, output keys in order', () => {
    const t = core('core:contextagent:audio-interaction');
    assert.equal(t.name, 'ContextAgent audio');
    assert.equal(t.description, 'Chat by voice with an agent');
    assert.deepEqual(t.inputShape, {
      input: {
        name: 'Chat voice message',
        description: 'Describe a task that you want the agent to do or ask a question.',
        type: 'Audio',
      },
      confirmation: {
        name: 'Confirmation',
        description: 'Whether to confirm previously requested actions: 0 for denial and 1 for confirmation.',
        type: 'Number',
      },
      conversation_token: {
        name: 'Conversation token',
        description: 'A token representing the conversation.',
        type: 'Text',
      },
    });
    assert.deepEqual(Object.keys(t.outputShape), ['input_transcript', 'output', 'output_transcript', 'conversation_token', 'actions']);
    assert.deepEqual(t.outputShape.output, {
      name: 'Response voice message',
      description: 'The generated voice response as part of the conversation',
      type: 'Audio',
    });
    assert.deepEqual(t.outputShape.conversation_token, {
      name: 'The new conversation token',
      description: 'Send this along with the next interaction.',
      type: 'Text',
    });
    assert.deepEqual(t.outputShape.actions, {
      name: 'Requested actions by the agent',
      description: 'Actions that the agent would like to carry out in JSON format.',
      type: 'Text',
    });
  });

  it('flags as internal exactly the types upstream marks IInternalTaskType', () => {
    assert.deepEqual(
      CORE_TASK_TYPES.filter((t) => t.isInternal === true).map((t) => t.id),
      [
        'core:text2text:chatwithtools',
        'core:text2text:multimodal-chatwithtools',
        'core:contextagent:interaction',
        'core:text2text:reformatparagraphs',
        'core:audio2audio:chat',
        'core:contextagent:audio-interaction',
        'core:contextagent:multimodal-interaction',
      ],
    );
    assert.equal(core('core:image2image').isInternal, undefined);
  });

  it('has the exact strings and slot order of core:text2text:multimodal-chatwithtools (PR #61963)', () => {
    const t = core('core:text2text:multimodal-chatwithtools');
    assert.equal(t.name, 'Chat with tools using attachments');
    assert.equal(t.description, 'Chat with the language model with tool calling support and attachments.');
    assert.deepEqual(Object.keys(t.inputShape), ['system_prompt', 'input', 'input_attachments', 'tool_message', 'history', 'tools']);
    assert.deepEqual(t.inputShape.input_attachments, {
      name: 'Input attachments',
      description: 'Files to send along with the chat message.',
      type: 'ListOfFiles',
    });
    assert.deepEqual(t.inputShape.tools, core('core:text2text:chatwithtools').inputShape.tools);
    assert.deepEqual(t.inputShape.history, core('core:text2text:chatwithtools').inputShape.history);
    assert.deepEqual(Object.keys(t.outputShape), ['output', 'output_attachments', 'tool_calls']);
    assert.deepEqual(t.outputShape.output_attachments, {
      name: 'Output attachments',
      description: 'Files generated by the model.',
      type: 'ListOfFiles',
    });
    assert.deepEqual(t.outputShape.tool_calls, {
      name: 'Tool calls',
      description: 'Tools call instructions from the model in JSON format',
      type: 'Text',
    });
  });

  it('has the exact strings and slot order of core:contextagent:multimodal-interaction, memories and sources included', () => {
    const t = core('core:contextagent:multimodal-interaction');
    assert.equal(t.name, 'ContextAgent multimodal');
    assert.equal(t.description, 'Chat with an agent using attachments');
    assert.deepEqual(Object.keys(t.inputShape), ['input', 'input_attachments', 'confirmation', 'conversation_token', 'memories']);
    assert.deepEqual(t.inputShape.input, { name: 'Chat message', description: 'A chat message to send to the agent.', type: 'Text' });
    assert.deepEqual(t.inputShape.memories, { name: 'Memories', description: 'Memories to send to the agent.', type: 'ListOfTexts' });
    assert.deepEqual(Object.keys(t.outputShape), ['output', 'output_attachments', 'conversation_token', 'actions', 'sources']);
    assert.deepEqual(t.outputShape.output_attachments, {
      name: 'Output attachments',
      description: 'Files generated by the agent.',
      type: 'ListOfFiles',
    });
    assert.deepEqual(t.outputShape.sources, { name: 'Sources', description: 'Sources of the generated response.', type: 'ListOfTexts' });
  });

  it('has the exact strings of core:image2image (PR #64028): a list of images in, one image out', () => {
    assert.deepEqual(core('core:image2image'), {
      id: 'core:image2image',
      name: 'Edit image',
      description: 'Edit an image based on a text description of the changes',
      inputShape: {
        input: { name: 'Input images', description: 'The images to edit', type: 'ListOfImages' },
        prompt: { name: 'Prompt', description: 'Describe the changes you want to make to the image', type: 'Text' },
      },
      outputShape: { output: { name: 'Output image', description: 'The edited image', type: 'Image' } },
    });
  });

  it('types the file slots of ocr, subtitles and text2speech', () => {
    assert.equal(core('core:image2text:ocr').inputShape.input?.type, 'ListOfFiles');
    assert.equal(core('core:image2text:ocr').outputShape.output?.type, 'ListOfTexts');
    assert.equal(core('core:audio2text:subtitles').outputShape.output?.type, 'File');
    assert.equal(core('core:text2speech').outputShape.speech?.type, 'Audio');
    assert.equal(core('core:analyze-images').inputShape.images?.type, 'ListOfImages');
  });
});

const custom = (id: string, name = 'Custom'): TaskTypeDefinition => ({
  id,
  name,
  description: 'A custom type',
  inputShape: { input: { name: 'In', description: 'in', type: 'Text' } },
  outputShape: { output: { name: 'Out', description: 'out', type: 'Text' } },
});

describe('TaskTypeRegistry', () => {
  it('starts with the core types in order', () => {
    const r = new TaskTypeRegistry();
    assert.deepEqual(
      r.all().map((t) => t.id),
      MANAGER_ORDER,
    );
    assert.ok(r.has('core:text2text'));
    assert.equal(r.get('core:text2text')?.name, 'Free text to text prompt');
    assert.equal(r.get('nope'), undefined);
    assert.equal(r.has('nope'), false);
  });

  it('appends custom types after the core ones', () => {
    const r = new TaskTypeRegistry();
    r.register(custom('app:a'));
    r.register(custom('app:b'));
    assert.deepEqual(
      r
        .all()
        .slice(-2)
        .map((t) => t.id),
      ['app:a', 'app:b'],
    );
    assert.equal(r.all().length, 31);
  });

  it('replaces a type with the same id in place', () => {
    const r = new TaskTypeRegistry();
    r.register(custom('app:a', 'First'));
    r.register(custom('app:b'));
    r.register(custom('app:a', 'Second'));
    assert.deepEqual(
      r
        .all()
        .slice(-2)
        .map((t) => [t.id, t.name]),
      [
        ['app:a', 'Second'],
        ['app:b', 'Custom'],
      ],
    );
  });

  it('lets a registration replace a core type in place, like upstream', () => {
    const r = new TaskTypeRegistry();
    r.register(custom('core:text2text:summary', 'My summary'));
    assert.equal(r.all()[3]?.name, 'My summary');
    assert.equal(r.all().length, 29);
  });

  it('unregisters custom types', () => {
    const r = new TaskTypeRegistry();
    r.register(custom('app:a'));
    assert.equal(r.unregister('app:a'), true);
    assert.equal(r.has('app:a'), false);
    assert.equal(r.unregister('app:a'), false);
  });

  it('never removes a core type, but restores it when its replacement goes', () => {
    const r = new TaskTypeRegistry();
    assert.equal(r.unregister('core:text2text'), false);
    assert.ok(r.has('core:text2text'));
    r.register(custom('core:text2text:summary', 'My summary'));
    assert.equal(r.unregister('core:text2text:summary'), true);
    assert.equal(r.all()[3], core('core:text2text:summary'));
  });

  it('accepts its own list of types', () => {
    const r = new TaskTypeRegistry([custom('x:1'), custom('x:2')]);
    assert.deepEqual(
      r.all().map((t) => t.id),
      ['x:1', 'x:2'],
    );
    assert.equal(r.unregister('x:1'), false);
  });
});
