import { cp437ToUnicode } from './cp437.ts';

/** The VGA text screen as v86 reports it (`screen-put-char`), kept as Unicode rows. */
export class TextScreen {
  columns = 80;
  rows = 25;
  private cells: string[] = [];

  constructor() {
    this.resize(80, 25);
  }

  resize(columns: number, rows: number): void {
    this.columns = columns;
    this.rows = rows;
    this.cells = new Array<string>(columns * rows).fill(' ');
  }

  put(row: number, column: number, code: number): void {
    if (row < this.rows && column < this.columns) this.cells[row * this.columns + column] = cp437ToUnicode(code);
  }

  lines(): string[] {
    const lines: string[] = [];
    for (let r = 0; r < this.rows; r++) lines.push(this.cells.slice(r * this.columns, (r + 1) * this.columns).join(''));
    return lines;
  }
}
