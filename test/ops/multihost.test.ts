// The documented multi-host deployment (docs/operating.md), on real network interfaces: every host —
// directory, delivery service, three mix nodes, gateway, client — is its own Linux network namespace with
// its own address, joined by veth pairs on a bridge, and resolves the others by name through its own
// /etc/netns/<namespace>/hosts. Each server is started with the document's command (`umbra <role> --config
// <file>`) and the configuration file read from the document itself (paths moved under a temporary
// directory; the mix file's layer and name changed per host, as the document says); node keys are admitted
// with `umbra identity`, authority.pub is copied out of band, the gateway's certificate is made with the
// document's openssl command and trusted by the client through NODE_EXTRA_CA_CERTS. Every node must answer
// /ready over the bridge, two SDK users on the client host hold a conversation through the mixnet, the
// nodes' /metrics show the packets and the default process metrics (and every series the Grafana dashboard
// plots), and every process stops cleanly. The directory alone gets three more flags (100 ms rounds, B = 8,
// λ = 20) so the conversation takes seconds, not minutes, and the nodes a longer wait for the directory's
// first document (PATIENCE). Needs root, `ip` (iproute2) and openssl; otherwise it prints a skip line. Every
// namespace, link and file it creates is removed afterwards, whatever happened.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RoleProcess } from '../support/role-process.ts';

const execFileAsync = promisify(execFile);
const UMBRA = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('./multihost-client.ts', import.meta.url));
const DOCUMENT = fileURLToPath(new URL('../../docs/operating.md', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../../ops/grafana/umbra.json', import.meta.url));
const DOMAIN = 'umbra.example';
const OPS_PORT = 9100;
/** Caps on event-driven waits: a busy 2-core machine starts six Node processes here. */
const START_CAP_MS = 90_000;
/**
 * Added to the nodes' commands: how long they wait for the directory's first document (30 s by default). A
 * starved directory signing one document per registration can take longer here; a node would exit, and
 * systemd restart it, where the test has no systemd.
 */
const PATIENCE = `--startup-timeout-ms=${START_CAP_MS}`;

const tag = `u${process.pid % 100_000}`;
const subnet = `10.213.${20 + (process.pid % 200)}`;
const HOSTS = ['directory', 'delivery', 'mix1', 'mix2', 'mix3', 'gateway', 'client'] as const;
type HostName = (typeof HOSTS)[number];

interface Host {
  readonly name: HostName;
  readonly namespace: string;
  readonly address: string;
  /** Stands for the host's / : its etc/umbra, var/lib/umbra. */
  readonly root: string;
}

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why the test cannot run here, or undefined. */
function missing(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  for (const [command, args] of [
    ['ip', ['-V']],
    ['openssl', ['version']],
  ] as const) {
    try {
      run(command, args);
    } catch {
      return `no ${command} command${command === 'ip' ? ' (iproute2)' : ''}`;
    }
  }
  try {
    run('ip', ['netns', 'add', `${tag}-probe`]);
    run('ip', ['netns', 'del', `${tag}-probe`]);
  } catch {
    return 'network namespaces cannot be created here';
  }
  return undefined;
}

/** The configuration files docs/operating.md shows: each `/etc/umbra/<file>` line and the JSON block after it. */
function documentedConfigs(): Map<string, string> {
  const text = readFileSync(DOCUMENT, 'utf8');
  const configs = new Map<string, string>();
  for (const match of text.matchAll(/`\/etc\/umbra\/([\w-]+\.json)`[^\n]*\n\n```json\n([\s\S]*?)\n```/g)) {
    configs.set(match[1] as string, match[2] as string);
  }
  return configs;
}

/** The openssl command the document gives for the gateway's certificate, as arguments. */
function documentedOpenssl(): string[] {
  const text = readFileSync(DOCUMENT, 'utf8');
  const command = /```sh\n(openssl req [\s\S]*?)\n```/.exec(text)?.[1];
  assert.ok(command, 'docs/operating.md shows the openssl command');
  return command.replace(/\\\n/g, ' ').split(/\s+/).filter(Boolean).slice(1);
}

const hosts = new Map<HostName, Host>();
const processes: RoleProcess[] = [];
let bridge: string | undefined;
let scratch: string | undefined;

function host(name: HostName): Host {
  return hosts.get(name) as Host;
}

/** Moves the document's paths under the host's directory. */
function onHost(h: Host, text: string): string {
  return text
    .replaceAll('/var/lib/umbra', join(h.root, 'var/lib/umbra'))
    .replaceAll('/etc/umbra', join(h.root, 'etc/umbra'));
}

function buildNetwork(root: string): void {
  bridge = `${tag}br`;
  run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  run('ip', ['link', 'set', bridge, 'up']);
  run('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
  const names = HOSTS.map((name, index) => `${subnet}.${index + 2} ${name}.${DOMAIN}`);
  for (const [index, name] of HOSTS.entries()) {
    const h: Host = {
      name,
      namespace: `${tag}-${name}`,
      address: `${subnet}.${index + 2}`,
      root: join(root, name),
    };
    run('ip', ['netns', 'add', h.namespace]);
    hosts.set(name, h);
    const outside = `${tag}h${index}`;
    const inside = `${tag}n${index}`;
    run('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
    run('ip', ['link', 'set', outside, 'master', bridge, 'up']);
    run('ip', ['link', 'set', inside, 'netns', h.namespace]);
    run('ip', ['-n', h.namespace, 'addr', 'add', `${h.address}/24`, 'dev', inside]);
    run('ip', ['-n', h.namespace, 'link', 'set', inside, 'up']);
    run('ip', ['-n', h.namespace, 'link', 'set', 'lo', 'up']);
    // `ip netns exec` mounts /etc/netns/<namespace>/hosts over /etc/hosts: the host's own resolver.
    mkdirSync(`/etc/netns/${h.namespace}`, { recursive: true });
    writeFileSync(`/etc/netns/${h.namespace}/hosts`, ['127.0.0.1 localhost', ...names, ''].join('\n'));
    mkdirSync(join(h.root, 'etc/umbra/tls'), { recursive: true });
    mkdirSync(join(h.root, 'var/lib/umbra'), { recursive: true, mode: 0o700 });
  }
}

function tearDown(): void {
  for (const h of hosts.values()) {
    try {
      run('ip', ['netns', 'del', h.namespace]);
    } catch {}
    rmSync(`/etc/netns/${h.namespace}`, { recursive: true, force: true });
  }
  hosts.clear();
  if (bridge !== undefined) {
    try {
      run('ip', ['link', 'del', bridge]);
    } catch {}
    bridge = undefined;
  }
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
}

function start(h: Host, args: readonly string[], env: NodeJS.ProcessEnv = process.env): RoleProcess {
  const child = new RoleProcess(UMBRA, args, env, h.namespace);
  processes.push(child);
  return child;
}

/** GET on a host's operator port, over the bridge from this (the root) namespace. */
async function ops(h: Host, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://${h.address}:${OPS_PORT}${path}`, {
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, text: await response.text() };
}

async function untilReady(h: Host): Promise<Record<string, unknown>> {
  const deadline = Date.now() + START_CAP_MS;
  let last = '';
  for (;;) {
    const answer = await ops(h, '/ready').catch((error: Error) => ({ status: 0, text: error.message }));
    if (answer.status === 200) return JSON.parse(answer.text) as Record<string, unknown>;
    last = answer.text;
    if (Date.now() > deadline) throw new Error(`${h.name} not ready: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function sample(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** This process's environment without the test runner's: the client is a program of its own, not a test file. */
function clientEnvironment(): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _runner, ...env } = process.env;
  return env;
}

const reason = missing();
if (reason !== undefined) console.log(`# skip: multi-host namespace test: ${reason}`);

after(async () => {
  for (const child of processes) {
    if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
    await child.exited;
  }
  tearDown();
});

describe('multi-host deployment in network namespaces', { skip: reason }, () => {
  test('the documented per-host commands and files run a conversation across real interfaces', {
    timeout: 300_000,
  }, async () => {
    scratch = mkdtempSync(join(tmpdir(), 'umbra-multihost-'));
    buildNetwork(scratch);
    const configs = documentedConfigs();
    assert.deepEqual([...configs.keys()].sort(), [
      'delivery.json',
      'directory.json',
      'gateway.json',
      'mix.json',
    ]);
    const write = (h: Host, file: string, text: string) => {
      const path = join(h.root, 'etc/umbra', file);
      writeFileSync(path, onHost(h, text));
      return path;
    };

    // 1. Node identities, printed on each node's host, admitted by the directory's allow-list. The delivery
    // service needs nothing from the others and starts meanwhile.
    const deliveryHost = host('delivery');
    const delivery = start(deliveryHost, [
      'delivery',
      '--config',
      write(deliveryHost, 'delivery.json', configs.get('delivery.json') as string),
    ]);
    const nodes = ['mix1', 'mix2', 'mix3', 'gateway'] as const;
    const keys = await Promise.all(
      nodes.map(async (name) => {
        const h = host(name);
        const dataDir = join(h.root, 'var/lib/umbra');
        const argv = [
          'netns',
          'exec',
          h.namespace,
          process.execPath,
          UMBRA,
          'identity',
          '--data-dir',
          dataDir,
        ];
        return (await execFileAsync('ip', argv, { encoding: 'utf8' })).stdout.trim();
      }),
    );
    let directoryConfig = configs.get('directory.json') as string;
    for (const [index, name] of nodes.entries()) {
      assert.match(keys[index] as string, /^[0-9a-f]{64}$/);
      directoryConfig = directoryConfig.replace(`<identity key of ${name}>`, keys[index] as string);
    }

    // 2. The directory; its authority.pub handed to every other host.
    const directoryHost = host('directory');
    const directory = start(directoryHost, [
      'directory',
      '--config',
      write(directoryHost, 'directory.json', directoryConfig),
      '--round-period-ms=100',
      '--batch-size=8',
      '--client-send-rate=20',
    ]);
    await directory.logged('directory listening', START_CAP_MS);
    for (const h of hosts.values()) {
      if (h !== directoryHost)
        cpSync(
          join(directoryHost.root, 'var/lib/umbra/authority.pub'),
          join(h.root, 'etc/umbra/authority.pub'),
        );
    }

    // 3.–5. The three mix nodes and the gateway, each on its host (the delivery service is starting).
    const mixes = [1, 2, 3].map((layer) => {
      const h = host(`mix${layer}` as HostName);
      const text = (configs.get('mix.json') as string)
        .replace('"layer": 1', `"layer": ${layer}`)
        .replace(`mix1.${DOMAIN}`, `mix${layer}.${DOMAIN}`);
      return start(h, ['mix', '--config', write(h, 'mix.json', text), PATIENCE]);
    });
    const gatewayHost = host('gateway');
    run('ip', [
      'netns',
      'exec',
      gatewayHost.namespace,
      'openssl',
      ...documentedOpenssl().map((arg) => onHost(gatewayHost, arg)),
    ]);
    const gateway = start(gatewayHost, [
      'gateway',
      '--config',
      write(gatewayHost, 'gateway.json', configs.get('gateway.json') as string),
      PATIENCE,
    ]);
    await delivery.logged('delivery service listening', START_CAP_MS);
    await Promise.all(mixes.map((mix) => mix.logged('mix node ready', START_CAP_MS)));
    await gateway.logged('gateway ready', START_CAP_MS);

    // Ready, as seen from outside each host: listed, keyed for this epoch and the next, links up, store answering.
    for (const name of ['delivery', ...nodes] as const) {
      const ready = await untilReady(host(name));
      assert.deepEqual(ready.notReady, [], name);
    }

    // The client host: two users converse through gateway.umbra.example's TLS name and pinned certificate.
    const clientHost = host('client');
    const certificate = join(clientHost.root, 'etc/umbra/gateway.crt');
    cpSync(join(gatewayHost.root, 'etc/umbra/tls/gateway.crt'), certificate);
    const client = new RoleProcess(
      CLIENT,
      [
        `wss://gateway.${DOMAIN}:7443/v1/client`,
        `http://directory.${DOMAIN}:7700`,
        join(clientHost.root, 'etc/umbra/authority.pub'),
        join(clientHost.root, 'var/lib/umbra'),
      ],
      { ...clientEnvironment(), NODE_EXTRA_CA_CERTS: certificate },
      clientHost.namespace,
    );
    processes.push(client);
    const code = await client.exited;
    const steps = client.lines as unknown as {
      step: string;
      by?: string;
      texts?: string[];
      message?: string;
    }[];
    assert.equal(code, 0, `the client failed: ${JSON.stringify(steps.at(-1))} ${client.stderr}`);
    assert.deepEqual(steps.find((s) => s.step === 'read' && s.by === 'bob')?.texts, [
      'hello from the alice host',
    ]);
    assert.deepEqual(steps.find((s) => s.step === 'read' && s.by === 'alice')?.texts, [
      'hello back across the bridge',
    ]);

    // What an operator's Prometheus scrapes over the network: the traffic, next to the process metrics.
    const scraped = new Map<string, string>();
    for (const name of ['directory', 'delivery', ...nodes] as const) {
      scraped.set(name, (await ops(host(name), '/metrics')).text);
    }
    const metricsOf = (name: HostName) => scraped.get(name) as string;
    assert.ok(sample(metricsOf('gateway'), 'gateway_client_packets_total') > 0);
    assert.ok(sample(metricsOf('gateway'), 'gateway_service_requests_total') > 0);
    for (const name of ['mix1', 'mix2', 'mix3'] as const) {
      assert.ok(sample(metricsOf(name), 'mix_packets_in_total') > 0, `${name} forwarded packets`);
      assert.ok(sample(metricsOf(name), 'process_cpu_seconds_total') > 0);
    }
    assert.ok(sample(metricsOf('delivery'), 'umbra_delivery_requests_total') > 0);
    // Every series the Grafana dashboard plots is one these processes export.
    const dashboard = readFileSync(DASHBOARD, 'utf8');
    const plotted = new Set(
      dashboard.match(/\b(?:mix|gateway|umbra|network_document|process|nodejs)_[a-z0-9_]+/g),
    );
    const families = new Set([...scraped.values()].join('\n').match(/(?<=^# TYPE )\S+/gm));
    for (const name of plotted) {
      const family = name.replace(/_(?:bucket|sum|count)$/, '');
      assert.ok(families.has(name) || families.has(family), `${name}, plotted by ops/grafana/umbra.json`);
    }

    // A clean stop, clients' side first.
    for (const child of [gateway, ...mixes, delivery, directory]) assert.equal(await child.stop(), 0);
  });
});
