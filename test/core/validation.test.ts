import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../../src/core/errors.js';
import { providerInfo, type ProviderInfo } from '../../src/core/provider.js';
import { SHAPE_TYPE, type Shape, type ShapeTypeName } from '../../src/core/shapes.js';
import { CORE_TASK_TYPES, type TaskTypeDefinition } from '../../src/core/task-types.js';
import { OUTPUT_VALIDATION_FAILED, fileIdsIn, taskTypeJson, validateInput, validateOutput } from '../../src/core/validation.js';

const TYPE_NAMES = Object.keys(SHAPE_TYPE) as ShapeTypeName[];

function shapeOf(slots: Record<string, ShapeTypeName>): Shape {
  return Object.fromEntries(Object.entries(slots).map(([key, type]) => [key, { name: `${key} name`, description: `${key} description`, type }]));
}

function typeWith(input: Record<string, ShapeTypeName>, output: Record<string, ShapeTypeName> = { output: 'Text' }) {
  return {
    id: 'test:type',
    name: 'Test',
    description: 'A test type',
    inputShape: shapeOf(input),
    outputShape: shapeOf(output),
  } satisfies TaskTypeDefinition;
}

function provider(extra: Partial<ProviderInfo> = {}): ProviderInfo {
  return providerInfo({ id: 'test:provider', name: 'Test provider', taskType: 'test:type', ...extra });
}

function core(id: string): TaskTypeDefinition {
  const def = CORE_TASK_TYPES.find((t) => t.id === id);
  assert.ok(def, id);
  return def;
}

/** Asserts that validateInput throws a validation_failed DomainError with exactly `message`. */
function refuses(type: TaskTypeDefinition, p: ProviderInfo, input: Record<string, unknown>, message: string) {
  assert.throws(
    () => validateInput(type, p, input),
    (e: unknown) => {
      assert.ok(e instanceof DomainError);
      assert.equal(e.code, 'validation_failed');
      assert.equal(e.message, message);
      return true;
    },
  );
}

const INNER: Record<ShapeTypeName, string> = {
  Number: 'Non-numeric item provided for Number slot',
  Text: 'Non-text item provided for Text slot',
  Image: 'Non-image item provided for Image slot',
  Audio: 'Non-audio item provided for Audio slot',
  Video: 'Non-video item provided for Video slot',
  File: 'Non-file item provided for File slot',
  Enum: 'Non-text item provided for Enum slot',
  ListOfNumbers: 'Non-numeric list item provided for ListOfNumbers slot',
  ListOfTexts: 'Non-text list item provided for ListOfTexts slot',
  ListOfImages: 'Non-image list item provided for ListOfImages slot',
  ListOfAudios: 'Non-audio list item provided for ListOfAudio slot',
  ListOfVideos: 'Non-video list item provided for ListOfTexts slot',
  ListOfFiles: 'Non-audio list item provided for ListOfFiles slot',
};

// One accepted and several refused values per type; Enum slots get enum values "a" and "b".
const CASES: Record<ShapeTypeName, { ok: unknown[]; bad: unknown[] }> = {
  Number: {
    ok: [5, -1.5, 0, '5', '-5', '+5', '1e3', '.5', '1.', ' 5', '5 ', '\t\n5\r\n', '1E-3'],
    bad: ['', ' ', 'abc', '0x1A', '5a', '1e', '.', 'INF', 'NAN', true, false, [], {}, Infinity, NaN],
  },
  Text: { ok: ['', 'hi', '5'], bad: [5, true, [], {}, ['a']] },
  Image: { ok: [1, '42', 4.5], bad: ['x', true, [1], {}] },
  Audio: { ok: [1, '42'], bad: ['x', false, [1]] },
  Video: { ok: [1, '42'], bad: ['x', false, [1]] },
  File: { ok: [1, '42'], bad: ['x', false, [1]] },
  Enum: { ok: ['a', 'b'], bad: [1, true, ['a']] },
  ListOfNumbers: { ok: [[], [1, '2', ' 3e2']], bad: [5, '5', [1, 'x'], [true], {}, { 0: 1 }] },
  ListOfTexts: { ok: [[], ['a', '']], bad: ['a', ['a', 1], [null], {}] },
  ListOfImages: { ok: [[], [1, '2']], bad: [1, [1, 'x'], [false]] },
  ListOfAudios: { ok: [[], [1, '2']], bad: [1, [1, 'x']] },
  ListOfVideos: { ok: [[], [1, '2']], bad: [1, [1, 'x']] },
  ListOfFiles: { ok: [[], [1, '2']], bad: [1, [1, 'x']] },
};

const ENUM_VALUES = [
  { name: 'A', value: 'a' },
  { name: 'B', value: 'b' },
];

describe('validateInput: shape types', () => {
  for (const typeName of TYPE_NAMES) {
    const type = typeWith({ slot: typeName });
    const p = provider({ inputShapeEnumValues: { slot: ENUM_VALUES } });
    it(`accepts valid ${typeName} values and keeps them uncast`, () => {
      for (const value of CASES[typeName].ok) {
        assert.deepEqual(validateInput(type, p, { slot: value }), { slot: value }, JSON.stringify(value));
      }
    });
    it(`refuses invalid ${typeName} values with the upstream message`, () => {
      for (const value of CASES[typeName].bad) {
        refuses(type, p, { slot: value }, `Failed to validate input key "slot": ${INNER[typeName]}`);
      }
    });
  }

  it('keeps "5" a string in a Number slot', () => {
    const out = validateInput(typeWith({ n: 'Number' }), provider(), { n: '5' });
    assert.equal(out.n, '5');
  });

  it('refuses booleans for Number slots', () => {
    refuses(typeWith({ n: 'Number' }), provider(), { n: true }, `Failed to validate input key "n": ${INNER.Number}`);
  });

  it('validates slots in shape order and stops at the first failure', () => {
    refuses(typeWith({ a: 'Text', b: 'Number' }), provider(), { b: 'x', a: 1 }, 'Failed to validate input key "a": Non-text item provided for Text slot');
  });
});

describe('validateInput: missing keys, null and unknown keys', () => {
  const type = typeWith({ input: 'Text', count: 'Number' });

  it('refuses a missing mandatory key', () => {
    refuses(type, provider(), { input: 'x' }, 'Missing key: "count"');
  });

  it('treats null as absent', () => {
    refuses(type, provider(), { input: 'x', count: null }, 'Missing key: "count"');
  });

  it('drops keys that are in neither shape', () => {
    const p = provider({ optionalInputShape: shapeOf({ extra: 'Text' }) });
    assert.deepEqual(validateInput(type, p, { zzz: 1, count: 2, input: 'x', extra: 'e', other: 'o' }), {
      input: 'x',
      count: 2,
      extra: 'e',
    });
  });

  it('does not treat inherited object keys as given', () => {
    const slots: Record<string, ShapeTypeName> = Object.fromEntries([['constructor', 'Text']]);
    refuses(typeWith(slots), provider(), {}, 'Missing key: "constructor"');
  });
});

describe('validateInput: optional slots', () => {
  const type = typeWith({ input: 'Text' });
  const p = provider({ optionalInputShape: shapeOf({ max: 'Number', style: 'Enum' }) });

  it('skips absent or null optional slots and leaves them out', () => {
    assert.deepEqual(validateInput(type, p, { input: 'x', max: null }), { input: 'x' });
  });

  it('checks optional slots that are present', () => {
    refuses(type, p, { input: 'x', max: 'lots' }, `Failed to validate input key "max": ${INNER.Number}`);
  });

  it('checks the mandatory shape before the optional one', () => {
    refuses(type, p, { max: 'lots' }, 'Missing key: "input"');
  });

  it('checks optional enums against the optional enum values', () => {
    const withValues = { ...p, optionalInputShapeEnumValues: { style: ENUM_VALUES } };
    assert.deepEqual(validateInput(type, withValues, { input: 'x', style: 'b' }), { input: 'x', style: 'b' });
    refuses(
      type,
      withValues,
      { input: 'x', style: 'c' },
      'Failed to validate input key "style": Wrong value given for Enum slot. Got "c", but expected one of the provided enum values: "a", "b"',
    );
    // The mandatory enum values do not count for an optional slot.
    refuses(
      type,
      { ...p, inputShapeEnumValues: { style: ENUM_VALUES } },
      { input: 'x', style: 'a' },
      'Failed to validate input key "style": Provider did not provide enum values for an enum slot: "style"',
    );
  });
});

describe('validateInput: enums', () => {
  const tone = core('core:text2text:changetone');

  it('refuses an enum slot when the provider gave no enum values', () => {
    refuses(
      tone,
      provider(),
      { input: 'x', tone: 'friendly' },
      'Failed to validate input key "tone": Provider did not provide enum values for an enum slot: "tone"',
    );
  });

  it('refuses a value that is not one of the enum values, listing them', () => {
    const p = provider({
      inputShapeEnumValues: {
        tone: [
          { name: 'Friendly', value: 'friendly' },
          { name: 'Formal', value: 'formal' },
          { name: 'Serious', value: 'serious' },
        ],
      },
    });
    refuses(
      tone,
      p,
      { input: 'x', tone: 'Friendly' },
      'Failed to validate input key "tone": Wrong value given for Enum slot. Got "Friendly", but expected one of the provided enum values: "friendly", "formal", "serious"',
    );
    assert.deepEqual(validateInput(tone, p, { input: 'x', tone: 'formal' }), { input: 'x', tone: 'formal' });
  });

  it('lists nothing when the enum value list is empty', () => {
    refuses(
      tone,
      provider({ inputShapeEnumValues: { tone: [] } }),
      { input: 'x', tone: 'a' },
      'Failed to validate input key "tone": Wrong value given for Enum slot. Got "a", but expected one of the provided enum values: ""',
    );
  });
});

describe('validateInput: defaults', () => {
  const image = core('core:text2image');

  it('fills a missing mandatory slot from its default, default keys first like array_merge', () => {
    const p = provider({ inputShapeDefaults: { numberOfImages: 1 } });
    const out = validateInput(image, p, { input: 'a cat' });
    assert.deepEqual(out, { numberOfImages: 1, input: 'a cat' });
    assert.deepEqual(Object.keys(out), ['numberOfImages', 'input']);
  });

  it('lets a given value win over the default', () => {
    const p = provider({ inputShapeDefaults: { numberOfImages: 1 } });
    assert.deepEqual(validateInput(image, p, { input: 'a cat', numberOfImages: '3' }), {
      numberOfImages: '3',
      input: 'a cat',
    });
  });

  it('replaces a null value with the default', () => {
    const p = provider({ inputShapeDefaults: { numberOfImages: 2 } });
    assert.deepEqual(validateInput(image, p, { input: 'a cat', numberOfImages: null }), {
      numberOfImages: 2,
      input: 'a cat',
    });
  });

  it('fills optional defaults too, even for absent optional slots', () => {
    const p = provider({
      optionalInputShape: shapeOf({ size: 'Text', seed: 'Number' }),
      optionalInputShapeDefaults: { size: '512x512' },
    });
    assert.deepEqual(validateInput(image, p, { input: 'a cat', numberOfImages: 1 }), {
      size: '512x512',
      input: 'a cat',
      numberOfImages: 1,
    });
  });

  it('validates a used default, without the "Failed to validate input key" prefix', () => {
    const p = provider({ inputShapeDefaults: { numberOfImages: 'many' } });
    refuses(image, p, { input: 'a cat' }, 'Non-numeric item provided for Number slot');
  });

  it('does not validate a default that is not used', () => {
    const p = provider({ inputShapeDefaults: { numberOfImages: 'many' } });
    assert.deepEqual(validateInput(image, p, { input: 'a cat', numberOfImages: 2 }), {
      numberOfImages: 2,
      input: 'a cat',
    });
  });

  it('refuses a default for a file slot', () => {
    const p = provider({ inputShapeDefaults: { input: 7 } });
    refuses(core('core:audio2text'), p, {}, 'Provider tried to set a default value for a slot that is not text or number');
  });

  it('refuses a default for a list slot', () => {
    const p = provider({ inputShapeDefaults: { history: 'x' } });
    refuses(core('core:text2text:chat'), p, { system_prompt: '', input: 'hi' }, 'Provider tried to set a default value for a non-scalar slot');
    refuses(
      typeWith({ files: 'ListOfFiles' }),
      provider({ inputShapeDefaults: { files: 1 } }),
      {},
      'Provider tried to set a default value for a non-scalar slot',
    );
  });

  it('accepts an enum default without checking it against the enum values', () => {
    const translate = core('core:text2text:translate');
    const p = provider({
      inputShapeEnumValues: { origin_language: [{ name: 'English', value: 'en' }], target_language: [{ name: 'German', value: 'de' }] },
      inputShapeDefaults: { origin_language: 'detect_language' },
    });
    assert.deepEqual(validateInput(translate, p, { input: 'hello', target_language: 'de' }), {
      origin_language: 'detect_language',
      input: 'hello',
      target_language: 'de',
    });
  });
});

describe('validateOutput', () => {
  it('exports the upstream user-visible error text', () => {
    assert.equal(
      OUTPUT_VALIDATION_FAILED,
      "The task was processed successfully but the provider's output doesn't pass validation against the task type's outputShape spec and/or the provider's own optionalOutputShape spec",
    );
  });

  it('accepts a valid output and drops unknown keys', () => {
    assert.deepEqual(validateOutput(core('core:text2text'), provider(), { output: 'hi', extra: 1 }), {
      ok: true,
      output: { output: 'hi' },
    });
  });

  it('reports a missing or null mandatory key', () => {
    const t = core('core:text2text');
    assert.deepEqual(validateOutput(t, provider(), {}), { ok: false, error: 'Missing key: "output"' });
    assert.deepEqual(validateOutput(t, provider(), { output: null }), { ok: false, error: 'Missing key: "output"' });
  });

  it('reports a wrong type', () => {
    assert.deepEqual(validateOutput(core('core:text2text'), provider(), { output: 5 }), {
      ok: false,
      error: 'Failed to validate output key "output": Non-text item provided for Text slot',
    });
    assert.deepEqual(validateOutput(core('core:image2text:ocr'), provider(), { output: ['a', 2] }), {
      ok: false,
      error: 'Failed to validate output key "output": Non-text list item provided for ListOfTexts slot',
    });
  });

  it('stores file ids as ints, whether sent as ints or numeric strings', () => {
    assert.deepEqual(validateOutput(core('core:text2speech'), provider(), { speech: '123' }), {
      ok: true,
      output: { speech: 123 },
    });
    assert.deepEqual(validateOutput(core('core:text2speech'), provider(), { speech: 123 }), {
      ok: true,
      output: { speech: 123 },
    });
    assert.deepEqual(validateOutput(core('core:text2image'), provider(), { images: ['1', 2, ' 3 '] }), {
      ok: true,
      output: { images: [1, 2, 3] },
    });
    assert.deepEqual(validateOutput(core('core:audio2text:subtitles'), provider(), { output: '9' }), {
      ok: true,
      output: { output: 9 },
    });
  });

  it('refuses file ids that are not whole numbers', () => {
    assert.deepEqual(validateOutput(core('core:text2speech'), provider(), { speech: 'abc' }), {
      ok: false,
      error: 'Failed to validate output key "speech": Non-audio item provided for Audio slot',
    });
    assert.deepEqual(validateOutput(core('core:text2speech'), provider(), { speech: 1.5 }), {
      ok: false,
      error: 'Failed to validate output key "speech": Non-audio item provided for Audio slot',
    });
    assert.deepEqual(validateOutput(core('core:text2image'), provider(), { images: [1, 'x'] }), {
      ok: false,
      error: 'Failed to validate output key "images": Non-image list item provided for ListOfImages slot',
    });
  });

  it('keeps Number outputs uncast', () => {
    const t = typeWith({ input: 'Text' }, { score: 'Number' });
    assert.deepEqual(validateOutput(t, provider(), { score: '0.5' }), { ok: true, output: { score: '0.5' } });
  });

  it('checks optional output slots only when present', () => {
    const t = core('core:text2text');
    const p = provider({ optionalOutputShape: shapeOf({ sources: 'ListOfTexts', file: 'File' }) });
    assert.deepEqual(validateOutput(t, p, { output: 'x', sources: null }), { ok: true, output: { output: 'x' } });
    assert.deepEqual(validateOutput(t, p, { file: '4', output: 'x', sources: ['s'] }), {
      ok: true,
      output: { output: 'x', sources: ['s'], file: 4 },
    });
    assert.deepEqual(validateOutput(t, p, { output: 'x', sources: 's' }), {
      ok: false,
      error: 'Failed to validate output key "sources": Non-text list item provided for ListOfTexts slot',
    });
  });

  it('checks enum outputs when the provider gives enum values', () => {
    const t = typeWith({ input: 'Text' }, { label: 'Enum' });
    assert.deepEqual(validateOutput(t, provider(), { label: 'anything' }), { ok: true, output: { label: 'anything' } });
    const p = provider({ outputShapeEnumValues: { label: ENUM_VALUES } });
    assert.deepEqual(validateOutput(t, p, { label: 'b' }), { ok: true, output: { label: 'b' } });
    assert.deepEqual(validateOutput(t, p, { label: 'c' }), {
      ok: false,
      error: 'Failed to validate output key "label": Wrong value given for Enum slot. Got "c", but expected one of the provided enum values: "a", "b"',
    });
    const optional = provider({
      optionalOutputShape: shapeOf({ mood: 'Enum' }),
      optionalOutputShapeEnumValues: { mood: ENUM_VALUES },
    });
    assert.deepEqual(validateOutput(t, optional, { label: 'x', mood: 'z' }), {
      ok: false,
      error: 'Failed to validate output key "mood": Wrong value given for Enum slot. Got "z", but expected one of the provided enum values: "a", "b"',
    });
  });

  it('refuses enum values declared for a non-enum output slot, as upstream does', () => {
    const p = provider({ outputShapeEnumValues: { output: ENUM_VALUES } });
    assert.deepEqual(validateOutput(core('core:text2text'), p, { output: 'a' }), {
      ok: false,
      error: 'Failed to validate output key "output": Provider provided enum values for non-enum slot',
    });
  });
});

describe('fileIdsIn', () => {
  it('collects scalar and list file slots of the input, mandatory and optional', () => {
    const t = typeWith({ images: 'ListOfImages', input: 'Text', audio: 'Audio' });
    const p = provider({ optionalInputShape: shapeOf({ mask: 'Image', extra: 'ListOfFiles', note: 'Text' }) });
    const io = { images: ['3', 1, 3], input: '99', audio: ' 7', extra: [8, '1'], note: '5' };
    assert.deepEqual(fileIdsIn(t, p, io, 'input'), [3, 1, 7, 8]);
  });

  it('checks every list item, not only indexes not yet seen', () => {
    const t = typeWith({ a: 'ListOfFiles', b: 'ListOfFiles' });
    assert.deepEqual(fileIdsIn(t, provider(), { a: [1, 2], b: [3, 4, 5] }, 'input'), [1, 2, 3, 4, 5]);
  });

  it('skips absent optional slots', () => {
    const t = core('core:text2text');
    const p = provider({ optionalInputShape: shapeOf({ attachment: 'File' }) });
    assert.deepEqual(fileIdsIn(t, p, { input: 'x' }, 'input'), []);
  });

  it('reads the output shapes for the output side', () => {
    const t = core('core:audio2audio:chat');
    const p = provider({ optionalOutputShape: shapeOf({ images: 'ListOfImages' }) });
    const output = { input_transcript: 't', output: 12, output_transcript: 'u', images: [13, 12] };
    assert.deepEqual(fileIdsIn(t, p, output, 'output'), [12, 13]);
    assert.deepEqual(fileIdsIn(t, p, { input: 5, history: [] }, 'input'), [5]);
  });
});

describe('taskTypeJson', () => {
  const KEY_ORDER = [
    'name',
    'description',
    'optionalInputShape',
    'inputShapeEnumValues',
    'inputShapeDefaults',
    'inputShape',
    'optionalInputShapeEnumValues',
    'optionalInputShapeDefaults',
    'outputShape',
    'outputShapeEnumValues',
    'optionalOutputShape',
    'optionalOutputShapeEnumValues',
    'isInternal',
  ];

  it('uses the Manager key order and empty objects for empty maps', () => {
    const json = taskTypeJson(core('core:text2text'), provider());
    assert.deepEqual(Object.keys(json), KEY_ORDER);
    assert.equal(
      JSON.stringify(json),
      '{"name":"Free text to text prompt","description":"Runs an arbitrary prompt through a language model that returns a reply",' +
        '"optionalInputShape":{},"inputShapeEnumValues":{},"inputShapeDefaults":{},' +
        '"inputShape":{"input":{"name":"Prompt","description":"Describe a task that you want the assistant to do or ask a question","type":"Text"}},' +
        '"optionalInputShapeEnumValues":{},"optionalInputShapeDefaults":{},' +
        '"outputShape":{"output":{"name":"Generated reply","description":"The generated text from the assistant","type":"Text"}},' +
        '"outputShapeEnumValues":{},"optionalOutputShape":{},"optionalOutputShapeEnumValues":{},"isInternal":false}',
    );
  });

  it('takes optional shapes, enum values and defaults from the provider', () => {
    const p = provider({
      optionalInputShape: shapeOf({ max_tokens: 'Number' }),
      inputShapeEnumValues: { tone: [{ value: 'formal', name: 'Formal' }] },
      inputShapeDefaults: { tone: 'formal' },
      optionalInputShapeDefaults: { max_tokens: 100 },
      optionalOutputShape: shapeOf({ sources: 'ListOfTexts' }),
    });
    const json = taskTypeJson(core('core:text2text:changetone'), p);
    assert.deepEqual(Object.keys(json), KEY_ORDER);
    assert.deepEqual(json.optionalInputShape, {
      max_tokens: { name: 'max_tokens name', description: 'max_tokens description', type: 'Number' },
    });
    assert.equal(JSON.stringify(json.inputShapeEnumValues), '{"tone":[{"name":"Formal","value":"formal"}]}');
    assert.deepEqual(json.inputShapeDefaults, { tone: 'formal' });
    assert.deepEqual(json.optionalInputShapeDefaults, { max_tokens: 100 });
    assert.deepEqual(Object.keys(json.optionalOutputShape as object), ['sources']);
  });

  it("ends with isInternal: true for upstream's internal types, false for the others and for custom ones", () => {
    const json = taskTypeJson(core('core:text2text:chatwithtools'), provider());
    assert.deepEqual(Object.keys(json), KEY_ORDER);
    assert.equal(json.isInternal, true);
    assert.equal(taskTypeJson(core('core:text2text'), provider()).isInternal, false);
    const { isInternal: _, ...custom } = { ...core('core:text2text:chatwithtools'), id: 'app:custom' };
    assert.equal(taskTypeJson(custom, provider()).isInternal, false);
  });
});
