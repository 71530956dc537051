// Ends DynamoDB Local (a Java process) when the local service that started it is gone, even after
// a `kill -9` of the service, which no handler of the service sees: without this, Java keeps its
// port and its database file, orphaned.
//
// Started by local/dynamodb-local.ts as `node dynamodb-watchdog.mjs <java pid>`, with its stdin a
// pipe only the service holds: the pipe reads end-of-file the moment the service's process ends,
// however it ends. Its parent pid changing (the service gone, this process adopted) is checked too.
// Plain JavaScript for plain node, so it starts in milliseconds without the TypeScript loader.

const javaPid = Number(process.argv[2]);
const servicePid = process.ppid;

const isAlive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
};

let stopping = false;
const stopJava = () => {
  if (stopping) return;
  stopping = true;
  try {
    process.kill(javaPid, 'SIGTERM');
  } catch {
    process.exit(0);
  }
  const since = Date.now();
  setInterval(() => {
    if (!isAlive(javaPid)) process.exit(0);
    // DynamoDB Local stops in well under a second on SIGTERM; one that does not is killed.
    if (Date.now() - since > 5000) {
      try {
        process.kill(javaPid, 'SIGKILL');
      } catch {}
      process.exit(0);
    }
  }, 100);
};

process.stdin.on('end', stopJava).on('error', stopJava).resume();
setInterval(() => {
  // Java ended first: the service stopped it (and will end this process), or it failed to start.
  if (!isAlive(javaPid)) process.exit(0);
  if (process.ppid !== servicePid) stopJava();
}, 500);
// Ctrl-C and a closed terminal signal the whole process group, Java included: this process stays
// until Java has ended or the service is gone.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
