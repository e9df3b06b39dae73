/**
 * Orders strings by UTF-16 code units, the same on every database. Text is sorted here rather
 * than by ORDER BY because PostgreSQL orders text by the database's collation (en_US puts "alice"
 * before "Bob", C after) while SQLite compares bytes, and a listing should not change order with
 * the database behind it.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
