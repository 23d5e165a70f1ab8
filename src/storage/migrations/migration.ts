/**
 * One versioned schema change, written once per dialect with the same tables and meaning.
 * A released migration is never edited: a later change is a new migration.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}
