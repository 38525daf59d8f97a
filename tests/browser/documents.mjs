// A bundle's documents as the tests read them: the same as the engine reads them natively.

import { gunzipSync } from 'node:zlib';

/**
 * A bundle's documents as the engine reads them natively: `documents.jsonl.gz`, with each text
 * from its texts shard (`texts/NNNN.jsonl.gz`) when the manifest splits them.
 * @param {(path: string) => Buffer} read a file of the bundle
 */
export function bundleDocuments(read) {
  const lines = (bytes) => gunzipSync(bytes).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const docs = lines(read('documents.jsonl.gz'));
  const manifest = JSON.parse(read('manifest.json').toString('utf8'));
  const shards = manifest.files.filter((f) => f.role === 'document-texts');
  shards.forEach((f, s) => lines(read(f.path)).forEach((text, i) => (docs[s * manifest.texts.documents_per_shard + i].abstract = text)));
  return docs;
}
