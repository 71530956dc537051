import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, resolve, sep } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import { listenOnLoopback } from './ports.ts';

/**
 * A local S3 bucket: it answers the PutObject and GetObject calls the handlers' real S3 client makes
 * (shared/store/documents.ts, path-style), with S3's promises for them: an object is whole or absent
 * (written beside, then renamed), a PutObject with `If-None-Match: *` over an existing key is refused
 * with 412 PreconditionFailed, and a missing key answers 404 NoSuchKey. Objects live in the data
 * folder (`documents/<bucket>/objects/<key>`), so they outlast a restart; in memory for `--in-memory`.
 */
export type LocalObjectStore = { endpoint: string; stop: () => Promise<void> };

export type LocalObjectStoreOptions = {
  bucket: string;
  /** Folder the objects are kept in; undefined keeps them in memory. */
  directory: string | undefined;
};

type StoredObject = { body: Buffer; contentType: string };

export async function startLocalObjectStore(options: LocalObjectStoreOptions): Promise<LocalObjectStore> {
  const memory = new Map<string, StoredObject>();
  // Objects under <bucket>/objects/<key>, their content types under <bucket>/types/<key>: apart, so
  // no key can name another's metadata. Each path is checked to stay inside its tree.
  const fileOf = (tree: 'objects' | 'types', key: string) => {
    const root = resolve(options.directory!, options.bucket, tree);
    const file = resolve(root, ...key.split('/'));
    if (!file.startsWith(`${root}${sep}`)) throw new Error(`Key "${key}" leaves the bucket's folder`);
    return file;
  };
  const read = (key: string): StoredObject | undefined => {
    if (!options.directory) return memory.get(key);
    const file = fileOf('objects', key);
    if (!existsSync(file) || !statSync(file).isFile()) return undefined;
    const types = fileOf('types', key);
    const contentType = existsSync(types) ? readFileSync(types, 'utf8') : 'binary/octet-stream';
    return { body: readFileSync(file), contentType };
  };
  const write = (key: string, object: StoredObject) => {
    if (!options.directory) return void memory.set(key, object);
    const file = fileOf('objects', key);
    const types = fileOf('types', key);
    mkdirSync(dirname(file), { recursive: true });
    mkdirSync(dirname(types), { recursive: true });
    writeFileAtomic(types, object.contentType);
    writeFileAtomic(file, object.body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        answer(req, res, Buffer.concat(chunks));
      } catch (error) {
        s3Error(res, 500, 'InternalError', (error as Error).message);
      }
    });
  });

  function answer(req: IncomingMessage, res: ServerResponse, body: Buffer): ServerResponse {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    const [bucket, ...rest] = path.slice(1).split('/').map(decodeURIComponent);
    const key = rest.join('/');
    if (bucket !== options.bucket) return s3Error(res, 404, 'NoSuchBucket', `No bucket ${bucket} here`);
    // A key is what our handlers name (documents.ts): no empty, `.` or `..` segment can leave the folder.
    // Checked on the decoded key: an encoded `%2F` inside one path segment is a `/` of the key.
    if (
      key
        .split('/')
        .some((segment) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\'))
    )
      return s3Error(res, 400, 'InvalidArgument', `Key "${key}" is not served locally`);
    if (req.method === 'PUT') {
      if (req.headers['if-none-match'] === '*' && read(key))
        return s3Error(
          res,
          412,
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
        );
      // The handlers send each object as one body; a streamed (aws-chunked) one would be stored framed.
      if (String(req.headers['content-encoding'] ?? '').includes('aws-chunked'))
        return s3Error(
          res,
          501,
          'NotImplemented',
          'aws-chunked bodies are not served locally: send the object whole',
        );
      write(key, {
        body,
        contentType: String(req.headers['content-type'] ?? 'binary/octet-stream'),
      });
      return res.writeHead(200, { etag: '"local"' }).end();
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const object = read(key);
      if (!object) return s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      res.writeHead(200, { 'content-type': object.contentType, 'content-length': object.body.length });
      return res.end(req.method === 'GET' ? object.body : undefined);
    }
    return s3Error(res, 405, 'MethodNotAllowed', `${req.method} is not served locally`);
  }

  const endpoint = await listenOnLoopback(server);
  return {
    endpoint,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function s3Error(res: ServerResponse, status: number, code: string, message: string): ServerResponse {
  const text = message.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
  res.writeHead(status, { 'content-type': 'application/xml' });
  return res.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${text}</Message></Error>`,
  );
}
