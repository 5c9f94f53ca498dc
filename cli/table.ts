// What list commands print for a person: a header row and aligned columns (cli-table3, no
// borders so the output stays easy to grep and paste), or one explicit line when there is
// nothing to list — an empty output looks like a broken command. `--json` is for scripts.
import Table from 'cli-table3';

export type Column<T> = { head: string; value: (row: T) => string | number | null | undefined };

export function renderTable<T>(columns: Column<T>[], rows: T[]): string {
  const table = new Table({
    head: columns.map((c) => c.head),
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    // No colours: the output goes to pipes and logs as often as to a terminal.
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const r of rows)
    table.push(
      columns.map((c) => {
        const v = c.value(r);
        return v === null || v === undefined || v === '' ? '-' : String(v);
      }),
    );
  return (
    table
      .toString()
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n') + '\n'
  );
}

/** Prints rows as JSON (`--json`), as a table, or the `empty` line ("no tickets"). */
export function printList<T>(rows: T[], columns: Column<T>[], opts: { json: boolean; empty: string }, out: NodeJS.WritableStream = process.stdout): void {
  if (opts.json) out.write(JSON.stringify(rows, null, 2) + '\n');
  else if (rows.length === 0) out.write(opts.empty + '\n');
  else out.write(renderTable(columns, rows));
}
