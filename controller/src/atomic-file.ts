import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes a file so readers see either the old or the new content, never a torn one: write a
 * temporary file beside it, then rename over it. No fsync: the run dir is an emptyDir whose
 * content is rebuilt from the API after any crash.
 */
export function writeFileAtomic(file: string, content: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  } catch (err) {
    // A full disk leaves a partial temporary file: remove it, or it holds the space a retry needs.
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
