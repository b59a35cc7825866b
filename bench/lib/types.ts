/** The shapes every benchmark section shares with the runner (bench/run.ts). */

/** One printed table: a title, column headings and rows of already formatted cells. */
export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

/** A non-functional target from SPEC.md and whether this run met it. */
export interface TargetCheck {
  section: string;
  name: string;
  target: string;
  actual: string;
  pass: boolean;
}

export interface SectionResult {
  tables: Table[];
  targets: Omit<TargetCheck, 'section'>[];
  /** Lines printed under the tables (what the figure includes and what it does not). */
  notes: string[];
  /** Raw figures, written to bench/results/latest.json. */
  data: Record<string, unknown>;
}

export interface BenchContext {
  /** The repository root (the folder holding package.json). */
  rootDir: string;
  /** Progress messages go to stderr so stdout keeps only the tables. */
  log: (message: string) => void;
}

export interface Section {
  /** Short name used by `--only`, e.g. "routing". */
  name: string;
  title: string;
  /** Starts servers on the bench database: the runner makes it ready first (bench/lib/database.ts). */
  usesDatabase?: boolean;
  run: (ctx: BenchContext) => Promise<SectionResult>;
}
