/** The page's vault store: the SDK's IndexedDB `BlobStore` (src/crypto/vault/indexeddb-store.ts). */
export { IndexedDbStore } from 'umbra';
