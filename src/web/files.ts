// Files over plain HTTP (docs/web.md, "Files"): an upload is a PUT of the file's bytes with upload
// progress (XMLHttpRequest), answered with the size and sha256 the pod has; a download is a GET
// read as a stream, resumed with `Range: bytes=N-` when the connection breaks, and checked against
// the gateway's X-Checksum-Sha256.

import { ApiError, csrfToken, describeError, errorOf, podsPath, UNREACHABLE } from './api.ts';

export interface FileTarget {
  cluster: string;
  namespace: string;
  pod: string;
  container: string;
}

export interface Uploaded {
  path: string;
  size: number;
  sha256: string;
}

function fileUrl(t: FileTarget, path: string): string {
  return `${podsPath(t.cluster, t.namespace, t.pod)}/file?${new URLSearchParams({ container: t.container, path })}`;
}

/** `dir` + `/` + `name`, without doubled slashes. */
export function joinPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

/** PUTs `file` to `path` in the container; `progress(sent, total)` follows the upload. */
export async function upload(t: FileTarget, path: string, file: Blob, progress: (sent: number, total: number) => void): Promise<Uploaded> {
  const token = await csrfToken();
  return new Promise<Uploaded>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', fileUrl(t, path));
    xhr.setRequestHeader('x-csrf-token', token);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => progress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError(UNREACHABLE, `the upload to ${location.host} broke off (the gateway cannot be reached)`, 0));
    xhr.onabort = () => reject(new ApiError('ERR_ABORTED', 'the upload was cancelled', 0));
    xhr.onload = () => {
      const res = new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText });
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as Uploaded);
        } catch {
          reject(new ApiError('ERR_WEB_ANSWER', `the gateway answered ${xhr.status} without the file's size and checksum`, xhr.status));
        }
      } else {
        void errorOf(res).then(reject);
      }
    };
    xhr.send(file);
  });
}

export interface Downloaded {
  name: string;
  blob: Blob;
  sha256: string;
  /** How many times the transfer was resumed after a break. */
  resumed: number;
}

const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

export async function sha256Hex(blob: Blob): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
}

/** The file name of a Content-Disposition header (`filename*=UTF-8''…` or `filename="…"`). */
export function dispositionName(header: string | null, fallback: string): string {
  if (!header) return fallback;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1]!);
    } catch {
      // fall through
    }
  }
  return /filename="([^"]*)"/i.exec(header)?.[1] ?? fallback;
}

/** GETs `path`; after a break resumes from the bytes it has (up to `attempts` times). */
export async function download(t: FileTarget, path: string, progress: (got: number, total: number) => void, attempts = 5): Promise<Downloaded> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  let total = -1;
  let name = path.split('/').filter(Boolean).pop() ?? 'download';
  let checksum: string | null = null;
  let resumed = 0;
  let validator: string | null = null;
  for (;;) {
    const headers: Record<string, string> = {};
    if (got > 0) {
      headers.range = `bytes=${got}-`;
      if (validator) headers['if-range'] = validator;
    }
    let res: Response;
    try {
      res = await fetch(fileUrl(t, path), { headers, credentials: 'same-origin' });
    } catch (err) {
      if (got > 0 && resumed < attempts) {
        resumed++;
        await new Promise((r) => setTimeout(r, 500 * resumed));
        continue;
      }
      throw new ApiError(UNREACHABLE, `the gateway at ${location.host} cannot be reached (${(err as Error).message})`, 0);
    }
    if (!res.ok) throw await errorOf(res);
    if (got > 0 && res.status !== 206) {
      // The server sent the whole file again (it changed, or no ranges): start over.
      chunks.length = 0;
      got = 0;
    }
    if (got === 0) {
      const length = Number(res.headers.get('content-length') ?? -1);
      total = Number.isFinite(length) ? length : -1;
      name = dispositionName(res.headers.get('content-disposition'), name);
      checksum = res.headers.get('x-checksum-sha256');
      validator = res.headers.get('etag') ?? res.headers.get('last-modified');
    }
    const reader = res.body!.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        got += value.length;
        progress(got, total);
      }
    } catch {
      if (resumed < attempts && res.headers.get('accept-ranges') === 'bytes') {
        resumed++;
        continue;
      }
      throw new ApiError('ERR_WEB_DOWNLOAD_BROKEN', `the download of ${path} broke off after ${got} bytes`, 0);
    }
    if (total >= 0 && got < total && resumed < attempts) {
      resumed++;
      continue;
    }
    break;
  }
  const blob = new Blob(chunks as BlobPart[]);
  const sha256 = await sha256Hex(blob);
  if (checksum && checksum.toLowerCase() !== sha256) {
    throw new ApiError('ERR_WEB_DOWNLOAD_CHECKSUM', `the downloaded ${path} does not match the pod's checksum (${sha256} here, ${checksum} there)`, 0);
  }
  return { name, blob, sha256, resumed };
}

/** Offers a downloaded blob to the user as a file. */
export function save(d: Downloaded): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(d.blob);
  a.download = d.name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

export { describeError };
