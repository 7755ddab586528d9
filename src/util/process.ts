// Whether a process is still there (the store's writer lock, tests of child processes).

import { existsSync } from 'node:fs';

export function pidAlive(pid: number): boolean {
  // /proc is authoritative on Linux; process.kill(pid, 0) elsewhere (EPERM still means alive).
  if (existsSync('/proc/self')) return existsSync(`/proc/${pid}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
