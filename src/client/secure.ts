/**
 * The seeds' two interfaces (design brief §5), for apps written against them:
 *
 * - `ISecureTransport`: send a text to a handle, receive texts. `clientTransport(client)` implements it
 *   over the SDK: each peer gets a 1:1 conversation (an MLS group), created on first send or joined when
 *   the peer starts one; delivery follows the client's privacy policy.
 * - `ISecureCrypto`: one-shot public-key encryption to a recipient, the versioned sealed box of
 *   src/crypto/sealed-box.ts (v1 = ML-KEM-768 + HKDF-SHA3-256 + AES-256-GCM, v2 = X-Wing, the default).
 */
import { backend as platformBackend } from '#default-backend';
import { createSealedBox, type SealedBoxVersion } from '../crypto/sealed-box.ts';
import type { KeyPair } from '../crypto/secret.ts';
import type { Client } from './client.ts';
import { isText } from './content.ts';
import type { Conversation, Message } from './conversation.ts';

export interface ISecureTransport {
  /** Resolves once the delivery service stored the message. */
  send(recipient: string, text: string): Promise<void>;
  /** Calls `handler` for every text received, once each; returns the unsubscribe function. */
  onReceive(handler: (sender: string, text: string) => void): () => void;
}

export interface ISecureCrypto {
  generateKeyPair(): KeyPair;
  encryptForRecipient(recipientPublicKey: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws `SealedBoxError` (wrong_key, tampered, truncated, unknown_version). */
  decryptFromSender(recipientSecretKey: Uint8Array, sealed: Uint8Array): Uint8Array;
}

export function secureCrypto(version: SealedBoxVersion = 2): ISecureCrypto {
  const box = createSealedBox(platformBackend);
  return {
    generateKeyPair: () => box.generateKeyPair(version),
    encryptForRecipient: (publicKey, plaintext) => box.seal(publicKey, plaintext, { version }),
    decryptFromSender: (secretKey, sealed) => box.open(secretKey, sealed),
  };
}

function peerOf(client: Client, conversation: Conversation): string | undefined {
  const others = conversation.members.filter((handle) => handle !== client.handle);
  return others.length === 1 ? others[0] : undefined;
}

/** `ISecureTransport` over a registered client's 1:1 conversations. */
export function clientTransport(client: Client): ISecureTransport {
  const handlers = new Set<(sender: string, text: string) => void>();
  const watched = new WeakSet<Conversation>();
  const watch = (conversation: Conversation) => {
    if (watched.has(conversation)) return;
    watched.add(conversation);
    conversation.on('message', (message: Message) => {
      if (!isText(message.content)) return; // Wellness items are the wellness layer's, not the transport's.
      for (const handler of handlers) handler(message.sender, message.content.text);
    });
  };
  for (const conversation of client.conversations()) watch(conversation);
  client.on('conversation', watch);
  return {
    async send(recipient, text) {
      const existing = client
        .conversations()
        .find((c) => c.status === 'active' && peerOf(client, c) === recipient);
      const conversation = existing ?? (await client.createConversation([recipient]));
      watch(conversation);
      await conversation.send({ text });
    },
    onReceive(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
  };
}
