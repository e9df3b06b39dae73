import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { DomainError } from '../core/errors.js';

// Values SQLite takes and PostgreSQL refuses with an error. Left to the database, they would be
// a 500 on PostgreSQL and a quiet answer on SQLite; checked here, both databases answer alike.

/**
 * Whether a number can name a row. Ids come from URLs as numbers; past 2^53 or fractional, they
 * name no row, and PostgreSQL refuses them as a bigint where SQLite finds nothing, so the store
 * answers "none" without asking.
 */
export const isRowId = (id: number): boolean => Number.isSafeInteger(id);

/** Whether a string can be stored: PostgreSQL's text has no NUL character (SQLite's has). */
export const isStorableText = (text: string): boolean => !text.includes('\0');

/** U+FFFD for each NUL, for free text (error messages) that should be kept rather than refused. */
export const storableText = (text: string): string => text.replaceAll('\0', '\uFFFD');

const nulRefused = () => new DomainError('bad_request', 'Text must not contain the NUL character');

/** The same rule for a statement compiled once and run with new parameters (which the plugin never sees). */
export function refuseNulParameters(parameters: readonly unknown[]): void {
  for (const p of parameters) if (typeof p === 'string' && !isStorableText(p)) throw nulRefused();
}

/**
 * Refuses, before it reaches the database, any statement with a NUL character in a string: a
 * DomainError('bad_request') on every database instead of a driver error on PostgreSQL only.
 * Identifiers and SQL in the tree never contain one, so every string is checked; JSON columns
 * are written by JSON.stringify, which escapes NUL.
 */
export class RefuseNulTextPlugin implements KyselyPlugin {
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (containsNul(args.node)) throw nulRefused();
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

// Runs on every statement: plain loops, no arrays built per node.
function containsNul(node: unknown): boolean {
  if (typeof node === 'string') return !isStorableText(node);
  if (node === null || typeof node !== 'object') return false;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) if (containsNul(node[i])) return true;
    return false;
  }
  for (const key in node) if (containsNul((node as Record<string, unknown>)[key])) return true;
  return false;
}
