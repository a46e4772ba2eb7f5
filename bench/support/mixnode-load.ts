// The load of bench/mixnode.ts's CPU table, in a child process of its own so that the node's process CPU time
// is the node's alone: a gateway that sends Sphinx packets to the node at a steady rate, and the sink that
// stands for every next hop (it takes the node's real packets and its dummies). Talks to the bench over IPC:
// it says where its sink listens and which TLS identity it sends with (`hello`), is told the node's address
// and key (`node`), builds its packets, says `ready`, and on `go` sends them in 10 ms bursts, then says `sent`.

import { fromHex, toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { Link, LinkServer, TlsIdentity } from '../../src/links/index.ts';
import { Geometry, type GeometryFields, Sphinx } from '../../src/sphinx/index.ts';

export interface Hello {
  readonly type: 'hello';
  readonly sink: { readonly host: string; readonly port: number };
  readonly sinkFingerprint: string;
  readonly gatewayFingerprint: string;
}

export interface NodeInfo {
  readonly type: 'node';
  readonly geometry: GeometryFields;
  readonly address: { readonly host: string; readonly port: number };
  readonly fingerprint: string;
  readonly publicKey: string;
  /** The next hop of every packet (a peer the node sends to the sink). */
  readonly nextHop: string;
  readonly nextHopPublicKey: string;
  readonly packetsPerSecond: number;
  readonly seconds: number;
}

const send = (message: object) => process.send?.(message);
const gateway = TlsIdentity.generate();
const sinkIdentity = TlsIdentity.generate();
let sink: LinkServer | undefined;

let go: () => void = () => {};
const started = new Promise<void>((resolve) => {
  go = resolve;
});
process.on('message', async (message: NodeInfo | { type: 'go' } | { type: 'exit' }) => {
  if (message.type === 'node') await prepare(message);
  else if (message.type === 'go') go();
  else {
    await sink?.close();
    process.exit(0);
  }
});

async function prepare(info: NodeInfo): Promise<void> {
  const geometry = Geometry.fromFields(info.geometry);
  const sphinx = new Sphinx(geometry, nodeBackend);
  const path = [
    { id: randomBytes(32), publicKey: fromHex(info.publicKey) },
    {
      id: fromHex(info.nextHop),
      publicKey: fromHex(info.nextHopPublicKey),
      commands: [{ type: 'recipient' as const, id: randomBytes(32) }],
    },
  ];
  const total = Math.round(info.packetsPerSecond * info.seconds);
  const packets = Array.from({ length: total }, () => sphinx.newPacket(path, randomBytes(100)));
  const link = new Link({
    identity: gateway,
    peer: { ...info.address, fingerprint: fromHex(info.fingerprint) },
    frameLength: geometry.packetLength,
    preamble: geometry.hash(),
    maxQueuedFrames: total,
  });
  // One packet the node drops as a replay of nothing known (a MAC failure) opens the connection first.
  link.send([randomBytes(geometry.packetLength)]);
  while (!link.connected) await new Promise((resolve) => setTimeout(resolve, 10));
  send({ type: 'ready' });
  await started;
  const t0 = performance.now();
  let next = 0;
  while (next < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * info.packetsPerSecond));
    if (due > next) link.send(packets.slice(next, due));
    next = Math.max(next, due);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  send({ type: 'sent', packets: total });
}

sink = await LinkServer.listen({
  identity: sinkIdentity,
  host: '127.0.0.1',
  port: 0,
  frameLength: Number(process.argv[2]),
  preamble: fromHex(process.argv[3] ?? ''),
  authorize: () => true,
  onFrame: () => {},
});
send({
  type: 'hello',
  sink: sink.address,
  sinkFingerprint: toHex(sinkIdentity.fingerprint),
  gatewayFingerprint: toHex(gateway.fingerprint),
} satisfies Hello);
