// The subset of sodium-native (libsodium bindings) that umbra calls. Functions throw on failure.
declare module 'sodium-native' {
  type Bytes = Uint8Array;
  const sodium: {
    readonly crypto_hash_sha256_STATEBYTES: number;
    crypto_hash_sha256(out: Bytes, input: Bytes): void;
    crypto_hash_sha256_init(state: Bytes): void;
    crypto_hash_sha256_update(state: Bytes, input: Bytes): void;
    crypto_hash_sha256_final(state: Bytes, out: Bytes): void;
    crypto_stream_chacha20_xor(out: Bytes, input: Bytes, nonce: Bytes, key: Bytes): void;
    crypto_scalarmult(out: Bytes, secretKey: Bytes, publicKey: Bytes): void;
    crypto_scalarmult_base(out: Bytes, secretKey: Bytes): void;
    crypto_sign_seed_keypair(publicKey: Bytes, secretKey: Bytes, seed: Bytes): void;
    crypto_sign_detached(signature: Bytes, message: Bytes, secretKey: Bytes): void;
    crypto_sign_verify_detached(signature: Bytes, message: Bytes, publicKey: Bytes): boolean;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
      out: Bytes,
      message: Bytes,
      associatedData: Bytes | null,
      secretNonce: null,
      nonce: Bytes,
      key: Bytes,
    ): number;
    crypto_aead_xchacha20poly1305_ietf_decrypt(
      out: Bytes,
      secretNonce: null,
      cipherText: Bytes,
      associatedData: Bytes | null,
      nonce: Bytes,
      key: Bytes,
    ): number;
    crypto_aead_chacha20poly1305_ietf_encrypt(
      out: Bytes,
      message: Bytes,
      associatedData: Bytes | null,
      secretNonce: null,
      nonce: Bytes,
      key: Bytes,
    ): number;
    crypto_aead_chacha20poly1305_ietf_decrypt(
      out: Bytes,
      secretNonce: null,
      cipherText: Bytes,
      associatedData: Bytes | null,
      nonce: Bytes,
      key: Bytes,
    ): number;
  };
  export default sodium;
}
