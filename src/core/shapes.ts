/**
 * Shape types and descriptors, as upstream's EShapeType and ShapeDescriptor define them.
 * The wire form of a shape type is its case name ("Text"); AppAPI registration payloads use the number.
 */
export const SHAPE_TYPE = Object.freeze({
  Number: 0,
  Text: 1,
  Image: 2,
  Audio: 3,
  Video: 4,
  File: 5,
  Enum: 6,
  ListOfNumbers: 10,
  ListOfTexts: 11,
  ListOfImages: 12,
  ListOfAudios: 13,
  ListOfVideos: 14,
  ListOfFiles: 15,
} as const);

export type ShapeTypeName = keyof typeof SHAPE_TYPE;

export interface ShapeDescriptor {
  name: string;
  description: string;
  type: ShapeTypeName;
}

/** Slot key → descriptor. Key order is significant (it is the order shown in /tasktypes). */
export type Shape = Record<string, ShapeDescriptor>;

export interface ShapeEnumValue {
  name: string;
  value: string;
}

export type ShapeEnumValues = Record<string, ShapeEnumValue[]>;
export type ShapeDefaults = Record<string, string | number>;

/** A task's input or output: slot key → number, string, or a list of them (file slots hold file ids). */
export type TaskIO = Record<string, unknown>;

const FILE_SCALARS: ReadonlySet<number> = new Set([SHAPE_TYPE.Image, SHAPE_TYPE.Audio, SHAPE_TYPE.Video, SHAPE_TYPE.File]);

export function shapeTypeFromNumber(n: number): ShapeTypeName | undefined {
  for (const [name, value] of Object.entries(SHAPE_TYPE)) if (value === n) return name as ShapeTypeName;
  return undefined;
}

/** The scalar type of a list type is `value % 10`, as upstream computes it. */
export function scalarOf(type: ShapeTypeName): ShapeTypeName {
  return shapeTypeFromNumber(SHAPE_TYPE[type] % 10) as ShapeTypeName;
}

export function isListType(type: ShapeTypeName): boolean {
  return SHAPE_TYPE[type] >= 10;
}

/** True for Image, Audio, Video, File and their list forms: slots that carry file ids. */
export function isFileType(type: ShapeTypeName): boolean {
  return FILE_SCALARS.has(SHAPE_TYPE[type] % 10);
}
