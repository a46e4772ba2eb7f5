// The reference for `npm run bench -- delivery` (issue 14): a bare delivery server of the same shape as
// `umbra delivery` — WebSocket in, one durable insert per post, answer after the commit — with nothing else
// (no protocol, no validation, no quotas, no sequence numbers). It runs as its own process:
//   node bench/reference/delivery-server.ts sqlite <file>   ws + node:sqlite, WAL, synchronous = FULL, the
//                                                            posts that arrive during a commit share the next
//   node bench/reference/delivery-server.ts postgres <url>  ws + pg, the posts that arrive during a batch go
//                                                            into the next one, one INSERT … unnest each
// and prints {"port": N} once it listens. A post is one binary frame: 32-byte stream ID ‖ 16-byte message ID
// ‖ blob; the answer is the frame's first byte back (1 when stored).
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { type WebSocket, WebSocketServer } from 'ws';

interface Post {
  readonly socket: WebSocket;
  readonly streamId: Uint8Array;
  readonly messageId: Uint8Array;
  readonly blob: Uint8Array;
}

const STORED = new Uint8Array([1]);
const [backend, location] = process.argv.slice(2);
if ((backend !== 'sqlite' && backend !== 'postgres') || location === undefined) {
  console.error('usage: delivery-server.ts sqlite <file> | postgres <url>');
  process.exit(2);
}

/** Takes the posts of one batch; resolves once they are durable. */
type Store = (posts: readonly Post[]) => Promise<void>;

function openSqlite(file: string): Store {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec(`CREATE TABLE IF NOT EXISTS items (stream_id BLOB NOT NULL, message_id BLOB NOT NULL,
    blob BLOB NOT NULL, posted_at INTEGER NOT NULL, PRIMARY KEY (stream_id, message_id))`);
  const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?, ?)');
  return async (posts) => {
    const now = Date.now();
    db.exec('BEGIN IMMEDIATE');
    for (const post of posts) insert.run(post.streamId, post.messageId, post.blob, now);
    db.exec('COMMIT');
  };
}

async function openPostgres(url: string): Promise<Store> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const schema = `bench_reference_${process.pid}`;
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  await client.query(`CREATE TABLE ${schema}.items (stream_id BYTEA NOT NULL, message_id BYTEA NOT NULL,
    blob BYTEA NOT NULL, posted_at BIGINT NOT NULL, PRIMARY KEY (stream_id, message_id))`);
  process.on('SIGTERM', () => {
    void client
      .query(`DROP SCHEMA ${schema} CASCADE`)
      .finally(() => client.end())
      .finally(() => process.exit(0));
  });
  return async (posts) => {
    await client.query(
      `INSERT INTO ${schema}.items SELECT s, m, b, $4 FROM unnest($1::bytea[], $2::bytea[], $3::bytea[]) AS p(s, m, b)`,
      [
        posts.map((post) => Buffer.from(post.streamId)),
        posts.map((post) => Buffer.from(post.messageId)),
        posts.map((post) => Buffer.from(post.blob)),
        Date.now(),
      ],
    );
  };
}

const store = backend === 'sqlite' ? openSqlite(location) : await openPostgres(location);
let waiting: Post[] = [];
let busy = false;

/** One batch at a time; whatever arrives meanwhile is the next batch. */
function flush(): void {
  if (busy || waiting.length === 0) return;
  const batch = waiting;
  waiting = [];
  busy = true;
  void store(batch).then(() => {
    for (const post of batch) post.socket.send(STORED);
    busy = false;
    // The posts read from every socket that was ready join the next batch (as in umbra's group commit).
    setImmediate(flush);
  });
}

const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
server.on('connection', (socket) => {
  socket.on('message', (data: Buffer) => {
    waiting.push({
      socket,
      streamId: data.subarray(0, 32),
      messageId: data.subarray(32, 48),
      blob: data.subarray(48),
    });
    if (waiting.length === 1) setImmediate(flush);
  });
});
server.on('listening', () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }));
});
if (backend === 'sqlite') process.on('SIGTERM', () => process.exit(0));
