// Serial records from CSV or JSON, checked row by row: every bad row is reported with its line
// in the source text and the field at fault, and the good rows are still returned.
import { z } from 'zod';
import { serialRecordSchema, type SerialRecord } from './schema.js';

export type ImportError = { line: number; field: string; message: string };
export type ImportResult = { records: SerialRecord[]; errors: ImportError[] };

export function formatImportError(e: ImportError): string {
  return `line ${e.line}, ${e.field}: ${e.message}`;
}

const knownFields = new Set(Object.keys(serialRecordSchema.shape));

/** Rows as cells with the line each row starts on. RFC 4180: quotes, "" escapes, CRLF, newlines in quotes. */
export function parseCsvRows(text: string): { line: number; cells: string[] }[] | { line: number; message: string } {
  const rows: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let quoteLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // byte-order mark from spreadsheet exports
  const endRow = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0].trim() === '')) rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
  };
  for (; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        cell += ch;
      }
    } else if (ch === '"' && cell === '') {
      quoted = true;
      quoteLine = line;
    } else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else cell += ch;
  }
  if (quoted) return { line: quoteLine, message: 'unterminated quoted cell' };
  endRow();
  return rows;
}

function checkRow(raw: Record<string, unknown>, line: number, seen: Map<string, number>, out: ImportResult): void {
  const r = serialRecordSchema.safeParse(raw);
  if (!r.success) {
    for (const issue of r.error.issues) out.errors.push({ line, field: issue.path.length ? issue.path.join('.') : '(row)', message: issue.message });
    return;
  }
  const first = seen.get(r.data.serial_no);
  if (first !== undefined) {
    out.errors.push({ line, field: 'serial_no', message: `duplicate of line ${first}` });
    return;
  }
  seen.set(r.data.serial_no, line);
  out.records.push(r.data);
}

/** CSV with a header row naming the fields; empty cells are absent values. */
export function parseSerialCsv(text: string): ImportResult {
  const out: ImportResult = { records: [], errors: [] };
  const rows = parseCsvRows(text);
  if (!Array.isArray(rows)) return { records: [], errors: [{ line: rows.line, field: '(file)', message: rows.message }] };
  if (rows.length === 0) return { records: [], errors: [{ line: 1, field: '(file)', message: 'no header row' }] };
  const [header, ...body] = rows;
  const names = header.cells.map((c) => c.trim());
  let headerOk = true;
  names.forEach((n, i) => {
    if (!knownFields.has(n)) {
      out.errors.push({ line: header.line, field: n || `column ${i + 1}`, message: `unknown column (expected ${[...knownFields].join(', ')})` });
      headerOk = false;
    } else if (names.indexOf(n) !== i) {
      out.errors.push({ line: header.line, field: n, message: 'column appears twice' });
      headerOk = false;
    }
  });
  if (!headerOk) return out;
  const seen = new Map<string, number>();
  for (const row of body) {
    if (row.cells.length !== names.length) {
      out.errors.push({ line: row.line, field: '(row)', message: `${row.cells.length} cells, header has ${names.length}` });
      continue;
    }
    const raw: Record<string, unknown> = {};
    names.forEach((n, i) => {
      const v = row.cells[i].trim();
      if (v !== '') raw[n] = v;
    });
    checkRow(raw, row.line, seen, out);
  }
  return out;
}

/** Line on which each element of a top-level JSON array starts (text already known to be valid JSON). */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  let expectValue = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\n') line++;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (depth === 1 && expectValue && !/\s/.test(ch) && ch !== ']') {
      lines.push(line);
      expectValue = false;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') {
      depth++;
      if (depth === 1) expectValue = true;
    } else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 1) expectValue = true;
  }
  return lines;
}

/** A JSON array of serial records; errors carry the line each element starts on. */
export function parseSerialJson(text: string): ImportResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { records: [], errors: [{ line: 1, field: '(file)', message: `not JSON: ${(e as Error).message}` }] };
  }
  const arr = z.array(z.unknown()).safeParse(data);
  if (!arr.success) return { records: [], errors: [{ line: 1, field: '(file)', message: 'expected a JSON array of serial records' }] };
  const lines = elementLines(text);
  const out: ImportResult = { records: [], errors: [] };
  const seen = new Map<string, number>();
  arr.data.forEach((el, i) => {
    const line = lines[i] ?? 1;
    if (el === null || typeof el !== 'object' || Array.isArray(el)) {
      out.errors.push({ line, field: '(row)', message: 'expected an object' });
      return;
    }
    const unknown = Object.keys(el).filter((k) => !knownFields.has(k));
    for (const k of unknown) out.errors.push({ line, field: k, message: 'unknown field' });
    if (unknown.length === 0) checkRow(el as Record<string, unknown>, line, seen, out);
  });
  return out;
}

export function parseSerials(text: string, format: 'csv' | 'json'): ImportResult {
  return format === 'csv' ? parseSerialCsv(text) : parseSerialJson(text);
}
