/**
 * What `umbra up` prints for people: one line per startup step as it completes, then a short status table
 * and the ready line. Plain text (no colours, no cursor tricks) so it reads the same in a terminal, a CI log
 * and a test's captured output. Addresses are loopback ports of this machine's own deployment, not user data.
 */

export interface StatusRow {
  readonly role: string;
  readonly address: string;
  readonly detail?: string;
}

export interface Progress {
  step(text: string): void;
  line(text: string): void;
}

export function progress(write: (text: string) => void): Progress {
  return {
    step: (text) => write(`  ✓ ${text}\n`),
    line: (text) => write(`${text}\n`),
  };
}

export function statusTable(rows: readonly StatusRow[]): string {
  const header: StatusRow = { role: 'role', address: 'address', detail: '' };
  const all = [header, ...rows];
  const roleWidth = Math.max(...all.map((row) => row.role.length));
  const addressWidth = Math.max(...all.map((row) => row.address.length));
  return all
    .map((row) =>
      `  ${row.role.padEnd(roleWidth)}  ${row.address.padEnd(addressWidth)}  ${row.detail ?? ''}`.trimEnd(),
    )
    .join('\n');
}

/** The exact line tests, scripts and people wait for. */
export function readyLine(url: string): string {
  return `umbra is ready at ${url}`;
}
