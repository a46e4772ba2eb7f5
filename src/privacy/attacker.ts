/**
 * The timing-correlation attacker of the privacy harness, and the chance level it is measured against.
 *
 * The attacker is a global passive observer: it sees every packet on every link (time, from, to — see
 * observer.ts) and, for each real message, when and at which exit it was delivered (as if it watched the
 * exit's push to the recipient, and knew which pushes are real messages: more than a passive observer
 * knows). It traces the message backwards hop by hop to a client link:
 *
 * - at every forwarding node it assumes first-in first-out: the node's outputs, in time order, are matched
 *   to its unmatched inputs, oldest first (exact for a node that forwards each packet as it comes); an
 *   output left unmatched (the node sent more than it received: a dummy, or a shuffle that broke the order)
 *   passes its weight to the node's inputs with a Gaussian weight of the delay around μ (sd μ/2), μ being
 *   the median delay of the matched pairs;
 * - at the exit, which pushes a message to its recipient as soon as it unwraps it, the delivery is
 *   attributed to the packets that entered the exit before it with weight exp(−delay/μ): the latest first.
 *
 * The client whose packets gather the most weight is the guess. Without mixing the trace is nearly exact;
 * with round-based mixing a node's outputs are a shuffle of its inputs, which first-in first-out matches at
 * random.
 *
 * Chance: if a round's batch were a perfect shuffle, the message would be equally likely to be any of the N
 * client packets that entered during that round, and the best possible guess — the client with the most
 * packets n_max in it — would be right with probability n_max / N. The mean of that over the messages is the
 * chance level; k, the number of distinct clients that sent in the round, is the anonymity set, reported as
 * 1/k beside it. See docs/privacy.md.
 */

/** A packet seen on a link. */
export interface Observed {
  readonly at: number;
  readonly from: string;
  readonly to: string;
}

/** A real message: the harness's ground truth, of which the attacker sees only `deliveredAt` and `exit`. */
export interface Message {
  readonly sender: string;
  readonly recipient: string;
  readonly exit: string;
  /** When the sender handed the packet to its link (the ground truth, for the chance level only). */
  readonly sentAt: number;
  readonly deliveredAt: number;
}

/**
 * The mixes' queue discipline as the attacker models it (docs/mixnode.md "The pool"): rounds on wall-clock
 * multiples of `roundPeriodMs`; a packet arriving during a round may first leave at its end and stays a
 * geometric number of rounds (p = `leaveProbability`), at most `maxStayRounds`. With p = 1 it is the
 * oldest-first round of a node with room: every packet leaves at the end of the round it arrived in.
 */
export interface Discipline {
  readonly roundPeriodMs: number;
  readonly leaveProbability: number;
  readonly maxStayRounds: number;
  /** Whether a node is a mix (the gateways forward at once). */
  readonly isMix: (name: string) => boolean;
}

export interface AttackOptions {
  /** The round period that defines each message's anonymity set (the mixing-on period, for both runs). */
  readonly roundPeriodMs: number;
  /** Hops from the client to the exit (gateway, the mix layers). */
  readonly hops: number;
  /** Whether a link's sender is a client. */
  readonly isClient: (name: string) => boolean;
  /** Whether node `to` forwards what it receives from `from` (a mix, or a gateway from a client). */
  readonly forwards: (from: string, to: string) => boolean;
  /**
   * When given, a mix's output is traced to its inputs by the stay the discipline gives each (the tracer
   * that simulates the mixes' queues); without, by first-in first-out matching.
   */
  readonly discipline?: Discipline;
}
export interface AttackReport {
  readonly messages: number;
  /** Messages whose sender the attacker guessed right. */
  readonly correct: number;
  readonly successRate: number;
  /** The best success rate of any guess if every round were a perfect shuffle (mean of n_max / N). */
  readonly chance: number;
  /** Mean over messages of 1/k, k being the distinct clients that sent in the message's round. */
  readonly inverseK: number;
  /** Mean k. */
  readonly meanK: number;
  /** Mean N, the client packets in the message's round. */
  readonly meanPackets: number;
  /** Three binomial standard errors of a success rate equal to `chance` over `messages` trials. */
  readonly margin: number;
  /** Latency of the real messages in milliseconds. */
  readonly latency: { readonly p50: number; readonly p99: number };
  /** Per recipient with several messages: whether summing log-scores over them found the sender. */
  readonly conversations: { readonly total: number; readonly identified: number };
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] as number;
}

/** Index of the first packet at or after `time` in packets sorted by time. */
function lowerBound(packets: readonly { readonly at: number }[], time: number): number {
  let low = 0;
  let high = packets.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((packets[middle] as { readonly at: number }).at < time) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Beyond this many μ, a packet's weight is negligible; past this many candidates per hop, the lightest go. */
const REACH = 5;
const KEEP = 400;

class Tracer {
  /** Packets by the node they entered, sorted by time: those it forwards, and those it ends (as the exit). */
  readonly #into = new Map<string, Observed[]>();
  readonly #ending = new Map<string, Observed[]>();
  /** Each forwarded output's input under first-in first-out matching at its node. */
  readonly #matched = new Map<Observed, Observed>();
  readonly #mu: number;
  readonly #options: AttackOptions;

  constructor(packets: readonly Observed[], options: AttackOptions) {
    const events = new Map<string, { packet: Observed; input: boolean }[]>();
    for (const packet of packets) {
      const forwarded = options.forwards(packet.from, packet.to);
      const into = forwarded ? this.#into : this.#ending;
      const list = into.get(packet.to) ?? [];
      list.push(packet);
      into.set(packet.to, list);
      if (forwarded) {
        const node = events.get(packet.to) ?? [];
        node.push({ packet, input: true });
        events.set(packet.to, node);
      }
      if (!options.isClient(packet.from)) {
        const node = events.get(packet.from) ?? [];
        node.push({ packet, input: false });
        events.set(packet.from, node);
      }
    }
    for (const list of [...this.#into.values(), ...this.#ending.values()]) list.sort((a, b) => a.at - b.at);
    for (const list of events.values()) {
      // Inputs before outputs at equal times: a node cannot send what it has not received.
      list.sort((a, b) => a.packet.at - b.packet.at || Number(b.input) - Number(a.input));
      const waiting: Observed[] = [];
      for (const { packet, input } of list) {
        if (input) waiting.push(packet);
        else {
          const oldest = waiting.shift();
          if (oldest) this.#matched.set(packet, oldest);
        }
      }
    }
    const delays = [...this.#matched].map(([output, input]) => output.at - input.at).sort((a, b) => a - b);
    this.#mu = Math.max(0.05, quantile(delays, 0.5) || 1);
    this.#options = options;
  }

  /** The weight each client gets for having sent the message delivered by `exit` at `at`. */
  scores(exit: string, at: number): Map<string, number> {
    const scores = new Map<string, number>();
    const ending = this.#ending.get(exit) ?? [];
    let level = new Map<Observed, number>(
      this.#kernel(ending, at, 1, (delay) => Math.exp(-delay / this.#mu)),
    );
    for (let hop = 0; hop < this.#options.hops + 1 && level.size > 0; hop++) {
      const next = new Map<Observed, number>();
      for (const [packet, weight] of level) {
        if (this.#options.isClient(packet.from)) {
          scores.set(packet.from, (scores.get(packet.from) ?? 0) + weight);
          continue;
        }
        const { discipline } = this.#options;
        const input = this.#matched.get(packet);
        const parents: [Observed, number][] = discipline?.isMix(packet.from)
          ? this.#stays(this.#into.get(packet.from) ?? [], packet.at, weight, discipline)
          : input
            ? [[input, weight]]
            : this.#kernel(this.#into.get(packet.from) ?? [], packet.at, weight);
        for (const [parent, share] of parents) next.set(parent, (next.get(parent) ?? 0) + share);
      }
      level = new Map([...next].sort((a, b) => b[1] - a[1]).slice(0, KEEP));
    }
    return scores;
  }

  /**
   * The inputs of a mix (`list`) that may have left in the round of an output seen at `at`, sharing `weight`
   * by the probability of their stay: s rounds, from the end of the round each arrived in to the output's
   * round, has probability p(1 − p)^(s − 1), the cap taking the rest; a floor of 1 % of p keeps a packet
   * that the node unwrapped a round late (it arrived just before a round's end) from vanishing.
   */
  #stays(
    list: readonly Observed[],
    at: number,
    weight: number,
    discipline: Discipline,
  ): [Observed, number][] {
    const { roundPeriodMs, leaveProbability: p, maxStayRounds: cap } = discipline;
    const round = Math.floor(at / roundPeriodMs);
    const first = lowerBound(list, (round - cap - 1) * roundPeriodMs);
    const candidates = list.slice(first, lowerBound(list, at));
    const weights = candidates.map((packet) => {
      const stay = round - Math.floor(packet.at / roundPeriodMs);
      const probability =
        stay < 1 || stay > cap ? 0 : stay === cap ? (1 - p) ** (cap - 1) : p * (1 - p) ** (stay - 1);
      return Math.max(probability, stay >= 0 && stay <= cap + 1 ? 0.01 * p : 0);
    });
    const total = weights.reduce((sum, w) => sum + w, 0);
    return total > 0
      ? candidates.map((packet, i) => [packet, (weight * (weights[i] as number)) / total])
      : [];
  }

  /** The packets of `list` (one node's inputs) before `at`, sharing `weight` by `kernel` of their delay. */
  #kernel(
    list: readonly Observed[],
    at: number,
    weight: number,
    kernel = (delay: number) => Math.exp(-2 * ((delay - this.#mu) / this.#mu) ** 2),
  ): [Observed, number][] {
    const candidates = list.slice(lowerBound(list, at - REACH * this.#mu), lowerBound(list, at + 1e-6));
    const weights = candidates.map((packet) => kernel(at - packet.at));
    const total = weights.reduce((sum, w) => sum + w, 0);
    return total > 0
      ? candidates.map((packet, i) => [packet, (weight * (weights[i] as number)) / total])
      : [];
  }
}

/** The client with the highest positive score (the first of equals), or undefined when none scores. */
function bestGuess(scores: ReadonlyMap<string, number>): string | undefined {
  let guess: string | undefined;
  let best = 0;
  for (const [client, score] of scores) {
    if (score > best) {
      best = score;
      guess = client;
    }
  }
  return guess;
}

/** Runs the attacker on every message and compares it with chance. */
export function timingAttack(
  packets: readonly Observed[],
  messages: readonly Message[],
  options: AttackOptions,
): AttackReport {
  const latencies = messages.map((message) => message.deliveredAt - message.sentAt);
  const sorted = [...latencies].sort((a, b) => a - b);
  const tracer = new Tracer(packets, options);
  const entries = packets.filter((packet) => options.isClient(packet.from)).sort((a, b) => a.at - b.at);
  let correct = 0;
  let chance = 0;
  let inverseK = 0;
  let meanK = 0;
  let meanPackets = 0;
  const perRecipient = new Map<string, { sender: string; logScores: Map<string, number>[] }>();
  for (const message of messages) {
    const scores = tracer.scores(message.exit, message.deliveredAt);
    if (bestGuess(scores) === message.sender) correct++;
    const conversation = perRecipient.get(message.recipient) ?? { sender: message.sender, logScores: [] };
    conversation.logScores.push(scores);
    perRecipient.set(message.recipient, conversation);

    const round = Math.floor(message.sentAt / options.roundPeriodMs);
    const counts = new Map<string, number>();
    const start = lowerBound(entries, round * options.roundPeriodMs);
    const end = lowerBound(entries, (round + 1) * options.roundPeriodMs);
    for (const entry of entries.slice(start, end)) counts.set(entry.from, (counts.get(entry.from) ?? 0) + 1);
    const inRound = end - start;
    if (inRound > 0) {
      chance += Math.max(...counts.values()) / inRound;
      inverseK += 1 / counts.size;
    } else {
      // The message's own entry was not observed in its round (clock edge): count a certain guess.
      chance += 1;
      inverseK += 1;
    }
    meanK += counts.size;
    meanPackets += inRound;
  }
  const n = messages.length;
  const chanceRate = n > 0 ? chance / n : Number.NaN;
  return {
    messages: n,
    correct,
    successRate: n > 0 ? correct / n : Number.NaN,
    chance: chanceRate,
    inverseK: inverseK / n,
    meanK: meanK / n,
    meanPackets: meanPackets / n,
    margin: 3 * Math.sqrt((chanceRate * (1 - chanceRate)) / n),
    latency: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) },
    conversations: intersect(perRecipient),
  };
}

/**
 * The long-term intersection attack: a recipient's messages are assumed to come from one correspondent, so
 * the log-scores of each client are summed over them (a client absent from a message's window scores a
 * floor well below any present client's).
 */
function intersect(perRecipient: Map<string, { sender: string; logScores: Map<string, number>[] }>): {
  total: number;
  identified: number;
} {
  let total = 0;
  let identified = 0;
  for (const { sender, logScores } of perRecipient.values()) {
    if (logScores.length < 2) continue;
    total++;
    if (combinedGuess(logScores) === sender) identified++;
  }
  return { total, identified };
}

/**
 * The client whose summed log-scores over several messages assumed to share a sender is the highest (a
 * client absent from a message's trace scores a floor well below any present client's).
 */
function combinedGuess(logScores: readonly ReadonlyMap<string, number>[]): string | undefined {
  const clients = new Set(logScores.flatMap((scores) => [...scores.keys()]));
  let guess: string | undefined;
  let best = Number.NEGATIVE_INFINITY;
  for (const client of clients) {
    let sum = 0;
    for (const scores of logScores) {
      const top = Math.max(1e-300, ...scores.values());
      sum += Math.log(Math.max((scores.get(client) ?? 0) / top, 1e-12));
    }
    if (sum > best) {
      best = sum;
      guess = client;
    }
  }
  return guess;
}

/** A trial: one sender's burst of messages to one recipient. */
export interface Burst {
  readonly sender: string;
  readonly recipient: string;
  readonly messages: readonly Message[];
}

/** A request reaching the service (a post or a read), as seen on the link from its exit. */
export interface Arrival {
  readonly exit: string;
  readonly at: number;
}

export interface BurstReport {
  readonly trials: number;
  /** Bursts whose sender the tracer named, its scores intersected over the burst's messages. */
  readonly sender: number;
  /** The same attacker with every delivery moved `shiftMs` later, where none was: right guesses. */
  readonly nullControl: number;
  /** Bursts whose recipient the tracer named from the requests that reached the service after each message. */
  readonly receiver: number;
  /** The receiver attacker with every delivery moved `shiftMs` later: right guesses. */
  readonly receiverNull: number;
  /** Bursts whose sender was the client whose connection opened last before the burst's first delivery. */
  readonly lifetime: number;
  /** 1/k: a blind guess among the k clients. */
  readonly chance: number;
  /** The binomial standard deviation of a success rate equal to `chance` over the trials. */
  readonly sigma: number;
}

export interface BurstAttackInput {
  readonly packets: readonly Observed[];
  readonly bursts: readonly Burst[];
  /** Every request that reached the service, posts and reads alike (the receiver attacker's material). */
  readonly arrivals: readonly Arrival[];
  /** Each client's first record: when its link to its gateway opened. */
  readonly connectionStarts: ReadonlyMap<string, number>;
}

/**
 * The burst attackers of issue 18 on what the observer recorded:
 * - the hop-by-hop tracer (`options`, with the mixes' `discipline` to simulate their queues) intersected
 *   over each burst's messages, and the same at shifted times as a null control;
 * - the receiver attacker: a recipient reads what it is sent, so a request of its own reaches the service
 *   some time after each message; for each message, the requests that reached the service after it are
 *   weighed by how likely their delay is for a read (`readDelays`) and traced back like a message, giving
 *   each client its probability of having sent the read; intersected over the burst (the recipient reads
 *   after every message, a bystander only by accident); null control at shifted times too;
 * - the connection-lifetime attacker, who names the client whose link to its gateway opened most recently
 *   before the burst.
 */
export function burstAttack(
  input: BurstAttackInput,
  options: AttackOptions & {
    readonly clients: number;
    readonly shiftMs: number;
    /**
     * Times from a message's delivery to its recipient's read reaching the service, as the adversary
     * measures them with messages of its own.
     */
    readonly readDelays: readonly number[];
  },
): BurstReport {
  const tracer = new Tracer(input.packets, options);
  const arrivals = [...input.arrivals].sort((a, b) => a.at - b.at);
  // The density of a read's delay after its message (Gaussian kernels, Silverman's bandwidth) and the
  // window that holds nearly all of them.
  const delays = [...options.readDelays].sort((x, y) => x - y);
  const mean = delays.reduce((sum, d) => sum + d, 0) / Math.max(1, delays.length);
  const sd = Math.sqrt(delays.reduce((sum, d) => sum + (d - mean) ** 2, 0) / Math.max(1, delays.length));
  const bandwidth = Math.max(1, 1.06 * sd * Math.max(1, delays.length) ** -0.2);
  const density = (delay: number) =>
    delays.reduce((sum, d) => sum + Math.exp(-0.5 * ((delay - d) / bandwidth) ** 2), 0);
  const reach = quantile(delays, 0.99) + 3 * bandwidth;
  /** Each client's share of a request's trace; windows overlap, so each request is traced once. */
  const shares = new Map<Arrival, Map<string, number>>();
  const shareOf = (arrival: Arrival): Map<string, number> => {
    let share = shares.get(arrival);
    if (share === undefined) {
      const traced = tracer.scores(arrival.exit, arrival.at);
      const sum = [...traced.values()].reduce((acc, score) => acc + score, 0);
      share = new Map(sum > 0 ? [...traced].map(([client, score]) => [client, score / sum]) : []);
      shares.set(arrival, share);
    }
    return share;
  };
  /**
   * Each client's probability of having sent the read of a message delivered at `at`: each request that
   * reached the service after it, other than the burst's own `posts`, is the read with a probability
   * following the read-delay density, and its trace gives each client's share of it.
   */
  const readers = (at: number, posts: ReadonlySet<number>): Map<string, number> => {
    const window = arrivals
      .slice(lowerBound(arrivals, at + 1e-6), lowerBound(arrivals, at + reach + 1e-6))
      .filter((arrival) => !posts.has(arrival.at));
    const likelihoods = window.map((arrival) => density(arrival.at - at));
    const total = likelihoods.reduce((sum, l) => sum + l, 0);
    const scores = new Map<string, number>();
    if (total <= 0) return scores;
    for (const [i, arrival] of window.entries()) {
      const weight = (likelihoods[i] as number) / total;
      if (weight < 1e-6) continue;
      for (const [client, share] of shareOf(arrival)) {
        scores.set(client, (scores.get(client) ?? 0) + weight * share);
      }
    }
    return scores;
  };
  let sender = 0;
  let nullControl = 0;
  let receiver = 0;
  let receiverNull = 0;
  let lifetime = 0;
  for (const burst of input.bursts) {
    const at = (shift: number) => burst.messages.map((message) => message.deliveredAt + shift);
    const traced = (shift: number) =>
      burst.messages.map((message) => tracer.scores(message.exit, message.deliveredAt + shift));
    if (combinedGuess(traced(0)) === burst.sender) sender++;
    if (combinedGuess(traced(options.shiftMs)) === burst.sender) nullControl++;
    // The burst's own messages are posts the attacker has seen arrive, not anyone's read.
    const posts = new Set(at(0));
    const read = (shift: number) => at(shift).map((time) => readers(time, posts));
    if (combinedGuess(read(0)) === burst.recipient) receiver++;
    if (combinedGuess(read(options.shiftMs)) === burst.recipient) receiverNull++;
    const first = Math.min(...at(0));
    let latest: string | undefined;
    for (const [client, started] of input.connectionStarts) {
      if (
        started < first &&
        (latest === undefined || started > (input.connectionStarts.get(latest) as number))
      )
        latest = client;
    }
    if (latest === burst.sender) lifetime++;
  }
  const trials = input.bursts.length;
  const chance = 1 / options.clients;
  return {
    trials,
    sender,
    nullControl,
    receiver,
    receiverNull,
    lifetime,
    chance,
    sigma: Math.sqrt((chance * (1 - chance)) / trials),
  };
}

/** What the reply-timing attacker links: a request's arrival at its service, and items pushed to clients. */
export interface ReplyLinkInput {
  /** Requests as the service received them: when, and (ground truth) from which client. */
  readonly deliveries: readonly { readonly at: number; readonly sender: string }[];
  /** Items the observer saw a gateway push to a client, with their size. */
  readonly pushes: readonly { readonly at: number; readonly client: string; readonly bytes: number }[];
}

/**
 * The attacker on client links: a gateway pushes each inbox item as it arrives, and a SURB reply is a larger
 * item than a forward message (its SURB id and payload tag), so the observer can pick out the replies — the
 * items only clients with requests in flight receive. For a request reaching the service at t it scores each
 * client by its reply-sized pushes at t + d, with a Gaussian weight around the median return delay (known
 * from the ground truth: an adversary measures it with requests of its own), and guesses the best. Without
 * the size difference it can still count pushes; the size only makes it sharper.
 */
export function replyLinkAttack(input: ReplyLinkInput): {
  messages: number;
  correct: number;
  successRate: number;
} {
  const replySize = Math.max(...input.pushes.map((push) => push.bytes));
  const replies = input.pushes.filter((push) => push.bytes === replySize).sort((a, b) => a.at - b.at);
  const delays: number[] = [];
  for (const delivery of input.deliveries) {
    const first = replies.find((reply) => reply.client === delivery.sender && reply.at >= delivery.at);
    if (first) delays.push(first.at - delivery.at);
  }
  const sorted = delays.sort((a, b) => a - b);
  const mu = quantile(sorted, 0.5);
  const spread = Math.max(
    5,
    1.4826 *
      quantile(
        sorted.map((d) => Math.abs(d - mu)).sort((a, b) => a - b),
        0.5,
      ),
  );
  let correct = 0;
  for (const delivery of input.deliveries) {
    const scores = new Map<string, number>();
    for (const reply of replies) {
      const z = (reply.at - delivery.at - mu) / spread;
      if (z > -6 && z < 6) scores.set(reply.client, (scores.get(reply.client) ?? 0) + Math.exp(-0.5 * z * z));
    }
    if (bestGuess(scores) === delivery.sender) correct++;
  }
  const messages = input.deliveries.length;
  return { messages, correct, successRate: messages > 0 ? correct / messages : Number.NaN };
}
