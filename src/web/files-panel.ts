// The files panel (docs/web.md, "Files"): uploads to and downloads from the container of the
// active terminal tab, with progress and the checksum the container has.

import { describeError as describe } from './api.ts';
import { download, joinPath, save, upload, type FileTarget } from './files.ts';
import type { TerminalTab } from './terminal.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export interface FilesHost {
  /** The active tab when it is a terminal: files go to and come from its container. */
  active(): TerminalTab | undefined;
  /** The panel opened or closed (the terminal's size changes). */
  toggled(): void;
}

export class FilesPanel {
  lastUpload: { path: string; size: number; sha256: string } | { error: string } | undefined;
  private readonly _host: FilesHost;
  private _staged: File[] = [];

  constructor(host: FilesHost) {
    this._host = host;
    $<HTMLButtonElement>('files-button').addEventListener('click', () => this.toggle());
    $<HTMLButtonElement>('files-close').addEventListener('click', () => this.toggle(false));
    $<HTMLInputElement>('upload-input').addEventListener('change', (e) => this.stage([...((e.target as HTMLInputElement).files ?? [])]));
    $<HTMLFormElement>('upload-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.uploadStaged();
    });
    $<HTMLFormElement>('download-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.downloadPath($<HTMLInputElement>('download-path').value, true);
    });
  }

  toggle(open?: boolean): void {
    const panel = $<HTMLElement>('files');
    panel.hidden = open === undefined ? !panel.hidden : !open;
    $<HTMLButtonElement>('files-button').setAttribute('aria-expanded', String(!panel.hidden));
    this.render();
    this._host.toggled();
    if (!panel.hidden) $<HTMLInputElement>('upload-dir').focus();
  }

  private _fileTarget(): FileTarget | undefined {
    const t = this._host.active();
    const container = t?.session?.container ?? t?.target.container;
    if (!t || !container) return undefined;
    return { cluster: t.target.cluster, namespace: t.target.namespace, pod: t.target.pod, container };
  }

  /** Shows where files go (the active terminal's container) and its working directory as the upload folder. */
  render(): void {
    const target = this._fileTarget();
    $<HTMLElement>('files-target').textContent = target ? `${target.pod}/${target.container} on ${target.cluster}` : 'open a terminal first';
    const dir = $<HTMLInputElement>('upload-dir');
    if (!dir.dataset.edited) dir.value = this._host.active()?.cwd ?? '/tmp';
  }

  /** Files chosen or dropped, uploaded by the Upload button. */
  stage(files: File[]): void {
    this._staged = files;
    $<HTMLElement>('upload-staged').textContent = files.length ? files.map((f) => `${f.name} (${f.size} bytes)`).join(', ') : '';
    this.render();
  }

  async uploadStaged(): Promise<void> {
    const target = this._fileTarget();
    const status = $<HTMLElement>('upload-status');
    const bar = $<HTMLProgressElement>('upload-progress');
    if (!target) return void (status.textContent = 'Open a terminal first: files go to its container.');
    if (this._staged.length === 0) return void (status.textContent = 'Choose a file, or drop one on the terminal.');
    const dir = $<HTMLInputElement>('upload-dir').value.trim() || '/tmp';
    for (const file of this._staged) {
      const path = joinPath(dir, file.name);
      status.textContent = `uploading ${file.name} to ${path}…`;
      bar.hidden = false;
      bar.value = 0;
      bar.max = file.size || 1;
      try {
        const done = await upload(target, path, file, (sent, total) => {
          bar.max = total || 1;
          bar.value = sent;
        });
        bar.value = bar.max;
        this.lastUpload = done;
        status.textContent = `${done.path}: ${done.size} bytes, sha256 ${done.sha256}`;
      } catch (err) {
        this.lastUpload = { error: describe(err) };
        status.textContent = `Upload of ${file.name} failed: ${describe(err)}`;
        return;
      }
    }
    this.stage([]);
  }

  async downloadPath(path: string, offer: boolean): Promise<{ name: string; size: number; sha256: string; resumed: number } | { error: string }> {
    const target = this._fileTarget();
    const status = $<HTMLElement>('download-status');
    const bar = $<HTMLProgressElement>('download-progress');
    if (!target) return { error: (status.textContent = 'Open a terminal first: files come from its container.') };
    path = path.trim();
    if (!path) return { error: (status.textContent = 'Type the path of a file in the container.') };
    status.textContent = `downloading ${path}…`;
    bar.hidden = false;
    bar.removeAttribute('value');
    try {
      const d = await download(target, path, (got, total) => {
        if (total > 0) {
          bar.max = total;
          bar.value = got;
        }
      });
      status.textContent = `${d.name}: ${d.blob.size} bytes, sha256 ${d.sha256}${d.resumed ? ` (resumed ${d.resumed}×)` : ''}`;
      if (offer) save(d);
      return { name: d.name, size: d.blob.size, sha256: d.sha256, resumed: d.resumed };
    } catch (err) {
      status.textContent = `Download of ${path} failed: ${describe(err)}`;
      return { error: describe(err) };
    }
  }
}
