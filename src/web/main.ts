// The page: the side tree, the tab strip (a terminal or a container's log per tab), the files
// panel (files-panel.ts) and broadcast input. Tabs survive a reload (their session ids are in sessionStorage); a deep link
// `/?cluster=&namespace=&pod=&container=&command=` opens a shell directly.

import type { Target } from './api.ts';
import { installAdoptedStyles } from './csp-styles.ts';
import { FilesPanel } from './files-panel.ts';
import { LogTab, type LogHost } from './logs.ts';
import { TerminalTab, type SavedTab, type TerminalHost } from './terminal.ts';
import { PodTree } from './tree.ts';

const STORE = 'podshell.tabs';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** A tab of the strip: a terminal, or a container's log (logs.ts). */
type Tab = TerminalTab | LogTab;
/** What sessionStorage keeps of a tab: a terminal's session, or a logs tab's container and toggles. */
type Saved = SavedTab | { logs: Target; follow: boolean; timestamps: boolean };

class App implements TerminalHost, LogHost {
  readonly tabs: Tab[] = [];
  active: Tab | undefined;
  fontSize = Number(localStorage.getItem('podshell.fontSize')) || 14;
  screenReaderMode = localStorage.getItem('podshell.screenReader') === '1';
  broadcast = false;
  /** Tabs that receive broadcast input. */
  readonly broadcastTo = new Set<TerminalTab>();
  private readonly _tablist = $<HTMLElement>('tabs');
  private readonly _panels = $<HTMLElement>('panels');
  private readonly _tabEls = new Map<Tab, HTMLElement>();
  private _serial = 0;
  private _dragged: Tab | undefined;
  readonly files = new FilesPanel({ active: () => (this.active instanceof TerminalTab ? this.active : undefined), toggled: () => this.active?.fitSoon() });

  constructor() {
    this._tablist.addEventListener('keydown', (e) => this._tabKey(e));
    document.addEventListener('keydown', (e) => this._globalKey(e), true);
    window.addEventListener('resize', () => this.active?.fitSoon());
    $<HTMLInputElement>('screen-reader').checked = this.screenReaderMode;
    $<HTMLInputElement>('screen-reader').addEventListener('change', (e) => {
      this.screenReaderMode = (e.target as HTMLInputElement).checked;
      localStorage.setItem('podshell.screenReader', this.screenReaderMode ? '1' : '0');
      for (const t of this.tabs) if (t instanceof TerminalTab) t.term.options.screenReaderMode = this.screenReaderMode;
    });
    $<HTMLInputElement>('broadcast').addEventListener('change', (e) => this.setBroadcast((e.target as HTMLInputElement).checked));
    $<HTMLInputElement>('search').addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' || !(this.active instanceof TerminalTab)) return;
      e.preventDefault();
      const text = (e.target as HTMLInputElement).value;
      if (e.shiftKey) this.active.search.findPrevious(text);
      else this.active.search.findNext(text);
    });
  }

  // ---- TerminalHost ----

  input(from: TerminalTab, data: Uint8Array): void {
    if (this.broadcast && this.broadcastTo.has(from)) {
      for (const t of this.broadcastTo) t.send(data);
    } else {
      from.send(data);
    }
  }

  changed(tab: Tab): void {
    const el = this._tabEls.get(tab);
    if (el) this._renderTab(tab, el);
    this._save();
    this._renderBroadcast();
    if (tab === this.active) this.files.render();
  }

  dropped(tab: TerminalTab, files: File[]): void {
    this.activate(tab);
    this.files.stage(files);
    this.files.toggle(true);
  }

  setFontSize(size: number): void {
    this.fontSize = size;
    localStorage.setItem('podshell.fontSize', String(size));
    for (const t of this.tabs) {
      if (!(t instanceof TerminalTab)) continue;
      t.term.options.fontSize = size;
      t.fitSoon();
    }
  }

  // ---- tabs ----

  open(target: Target, saved?: SavedTab): TerminalTab {
    return this._addTab((panel) => new TerminalTab(this, target, panel, saved));
  }

  /** A logs tab for a container (the tree's "logs" button, or L on a container). */
  openLogs(target: Target, options: { follow?: boolean; timestamps?: boolean } = {}): LogTab {
    return this._addTab((panel) => new LogTab(this, { cluster: target.cluster, namespace: target.namespace, pod: target.pod, ...(target.container ? { container: target.container } : {}) }, panel, options));
  }

  private _addTab<T extends Tab>(make: (panel: HTMLElement) => T): T {
    const id = `t${++this._serial}`;
    const panel = document.createElement('section');
    panel.id = `panel-${id}`;
    panel.className = 'panel';
    panel.setAttribute('role', 'tabpanel');
    panel.setAttribute('aria-labelledby', `tab-${id}`);
    this._panels.append(panel);
    const el = document.createElement('div');
    el.id = `tab-${id}`;
    el.setAttribute('role', 'tab');
    el.setAttribute('aria-controls', panel.id);
    el.draggable = true;
    this._tablist.append(el);
    const tab = make(panel);
    this.tabs.push(tab);
    this._tabEls.set(tab, el);
    el.addEventListener('click', (e) => {
      if ((e.target as HTMLElement).closest('.close')) void this.close(tab);
      else this.activate(tab);
    });
    el.addEventListener('auxclick', (e) => {
      if (e.button === 1) void this.close(tab);
    });
    el.addEventListener('dragstart', (e) => {
      this._dragged = tab;
      e.dataTransfer?.setData('text/plain', tab.label);
    });
    el.addEventListener('dragover', (e) => {
      if (this._dragged) e.preventDefault();
    });
    el.addEventListener('drop', (e) => {
      e.preventDefault();
      if (this._dragged && this._dragged !== tab) this.move(this._dragged, this.tabs.indexOf(tab));
      this._dragged = undefined;
    });
    this._renderTab(tab, el);
    this.activate(tab);
    $<HTMLElement>('empty').hidden = true;
    void tab.start();
    return tab;
  }

  activate(tab: Tab, focus = true): void {
    this.active = tab;
    for (const t of this.tabs) {
      const el = this._tabEls.get(t)!;
      const on = t === tab;
      el.setAttribute('aria-selected', String(on));
      el.tabIndex = on ? 0 : -1;
      t.panel.hidden = !on;
    }
    tab.fit();
    if (focus) tab.focus();
    this.files.render();
    this._save();
  }

  async close(tab: Tab): Promise<void> {
    const at = this.tabs.indexOf(tab);
    if (at < 0) return;
    this.tabs.splice(at, 1);
    this._tabEls.get(tab)?.remove();
    this._tabEls.delete(tab);
    if (tab instanceof TerminalTab) this.broadcastTo.delete(tab);
    this._save();
    this._renderBroadcast();
    const next = this.tabs[Math.min(at, this.tabs.length - 1)];
    if (next) this.activate(next);
    else {
      this.active = undefined;
      $<HTMLElement>('empty').hidden = false;
    }
    await tab.close();
  }

  /** Moves `tab` to position `to` in the strip. */
  move(tab: Tab, to: number): void {
    const from = this.tabs.indexOf(tab);
    if (from < 0 || to < 0 || to >= this.tabs.length || from === to) return;
    this.tabs.splice(from, 1);
    this.tabs.splice(to, 0, tab);
    for (const t of this.tabs) this._tablist.append(this._tabEls.get(t)!);
    this._tabEls.get(tab)!.focus();
    this._save();
  }

  private _renderTab(tab: Tab, el: HTMLElement): void {
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = tab.label;
    const cluster = document.createElement('span');
    cluster.className = 'cluster';
    cluster.textContent = tab.target.cluster;
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'close';
    close.tabIndex = -1;
    close.setAttribute('aria-label', `Close ${tab.label}`);
    close.textContent = '×';
    el.dataset.state = tab.state;
    el.dataset.kind = tab instanceof LogTab ? 'logs' : 'terminal';
    el.classList.toggle('broadcasting', this.broadcast && tab instanceof TerminalTab && this.broadcastTo.has(tab));
    el.title = `${tab.label} on ${tab.target.cluster}, namespace ${tab.target.namespace} (${tab.state})`;
    el.replaceChildren(label, cluster, close);
  }

  private _tabKey(e: KeyboardEvent): void {
    const el = (e.target as HTMLElement).closest('[role=tab]');
    const tab = this.tabs.find((t) => this._tabEls.get(t) === el);
    if (!tab) return;
    const at = this.tabs.indexOf(tab);
    const n = this.tabs.length;
    if (e.shiftKey && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) {
      this.move(tab, at + (e.key === 'ArrowLeft' ? -1 : 1));
    } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      const next = this.tabs[(at + (e.key === 'ArrowLeft' ? n - 1 : 1)) % n]!;
      this.activate(next, false);
      this._tabEls.get(next)!.focus();
    } else if (e.key === 'Home' || e.key === 'End') {
      const next = this.tabs[e.key === 'Home' ? 0 : n - 1]!;
      this.activate(next, false);
      this._tabEls.get(next)!.focus();
    } else if (e.key === 'Delete') {
      void this.close(tab);
    } else if (e.key === 'Enter') {
      this.activate(tab);
    } else return;
    e.preventDefault();
  }

  private _globalKey(e: KeyboardEvent): void {
    if (!e.altKey || e.ctrlKey || e.metaKey || this.tabs.length === 0) return;
    const at = this.active ? this.tabs.indexOf(this.active) : 0;
    let next: Tab | undefined;
    if (/^[1-9]$/.test(e.key)) next = this.tabs[Number(e.key) - 1];
    else if (e.key === 'PageDown') next = this.tabs[(at + 1) % this.tabs.length];
    else if (e.key === 'PageUp') next = this.tabs[(at + this.tabs.length - 1) % this.tabs.length];
    else return;
    e.preventDefault();
    e.stopPropagation();
    if (next) this.activate(next);
  }

  // ---- saved tabs ----

  private _save(): void {
    const saved: Saved[] = [];
    for (const t of this.tabs) {
      if (t instanceof LogTab) saved.push({ logs: t.target, follow: t.follow, timestamps: t.timestamps });
      else if (t.sessionId !== undefined && t.state !== 'ended' && t.state !== 'failed') saved.push({ target: t.target, sessionId: t.sessionId });
    }
    const active = this.active instanceof TerminalTab ? this.active.sessionId : undefined;
    sessionStorage.setItem(STORE, JSON.stringify({ tabs: saved, active }));
  }

  restore(): void {
    let stored: { tabs: Saved[]; active?: string } | undefined;
    try {
      stored = JSON.parse(sessionStorage.getItem(STORE) ?? 'null') ?? undefined;
    } catch {
      stored = undefined;
    }
    if (!stored) return;
    let active: TerminalTab | undefined;
    for (const saved of stored.tabs) {
      // A logs tab reads its log again; a terminal tab rejoins its session.
      if ('logs' in saved) this.openLogs(saved.logs, { follow: saved.follow, timestamps: saved.timestamps });
      else {
        const tab = this.open(saved.target, saved);
        if (saved.sessionId === stored.active) active = tab;
      }
    }
    if (active) this.activate(active);
  }

  // ---- broadcast ----

  setBroadcast(on: boolean): void {
    this.broadcast = on;
    $<HTMLInputElement>('broadcast').checked = on;
    if (on && this.broadcastTo.size === 0) for (const t of this.tabs) if (t instanceof TerminalTab) this.broadcastTo.add(t);
    this._renderBroadcast();
  }

  setBroadcastTo(tab: TerminalTab, on: boolean): void {
    if (on) this.broadcastTo.add(tab);
    else this.broadcastTo.delete(tab);
    this._renderBroadcast();
  }

  private _renderBroadcast(): void {
    const bar = $<HTMLElement>('broadcast-bar');
    document.body.classList.toggle('broadcast-on', this.broadcast);
    bar.hidden = !this.broadcast;
    for (const [t, el] of this._tabEls) el.classList.toggle('broadcasting', this.broadcast && t instanceof TerminalTab && this.broadcastTo.has(t));
    if (!this.broadcast) return;
    const title = document.createElement('strong');
    title.textContent = `BROADCAST: what you type goes to ${this.broadcastTo.size} terminal${this.broadcastTo.size === 1 ? '' : 's'}`;
    const boxes = this.tabs.filter((t) => t instanceof TerminalTab).map((t) => {
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = this.broadcastTo.has(t);
      box.addEventListener('change', () => this.setBroadcastTo(t, box.checked));
      label.append(box, ` ${t.label} (${t.target.cluster})`);
      return label;
    });
    bar.replaceChildren(title, ...boxes);
  }
}

/** `command` of a deep link: repeated parameters are argv; a single one is split at spaces. */
function deepLinkCommand(params: URLSearchParams): string[] | undefined {
  const all = params.getAll('command').filter((c) => c !== '');
  if (all.length === 0) return undefined;
  return all.length === 1 ? all[0]!.split(/\s+/).filter(Boolean) : all;
}

async function main(): Promise<void> {
  installAdoptedStyles();
  const app = new App();
  const tree = new PodTree($<HTMLUListElement>('tree'), { open: (target) => app.open(target), openLogs: (target) => app.openLogs(target) });
  $<HTMLInputElement>('filter').addEventListener('input', (e) => tree.filter((e.target as HTMLInputElement).value));
  $<HTMLInputElement>('upload-dir').addEventListener('input', (e) => ((e.target as HTMLElement).dataset.edited = '1'));

  const params = new URLSearchParams(location.search);
  const cluster = params.get('cluster');
  const namespace = params.get('namespace') ?? undefined;
  const pod = params.get('pod');
  app.restore();
  if (cluster && pod) {
    const target: Target = { cluster, namespace: namespace ?? 'default', pod };
    const container = params.get('container');
    if (container) target.container = container;
    const command = deepLinkCommand(params);
    if (command) target.command = command;
    app.open(target);
    // Opened once: a reload rejoins the tab's session rather than opening another shell.
    history.replaceState(null, '', '/');
  }
  if (app.tabs.length === 0) $<HTMLElement>('empty').hidden = false;

  const terminalAt = (i?: number) => {
    const t = i === undefined ? app.active : app.tabs[i];
    return t instanceof TerminalTab ? t : undefined;
  };
  const logAt = (i?: number) => {
    const t = i === undefined ? app.active : app.tabs[i];
    return t instanceof LogTab ? t : undefined;
  };
  // The hook the browser tests read the page through.
  const hook = {
    app,
    tabs: () =>
      app.tabs.map((t) =>
        t instanceof TerminalTab
          ? { kind: 'terminal', label: t.label, cluster: t.target.cluster, sessionId: t.sessionId, state: t.state, renderer: t.renderer, banner: t.bannerText(), cols: t.term.cols, rows: t.term.rows, exitCode: t.exitCode }
          : { kind: 'logs', label: t.label, cluster: t.target.cluster, state: t.state, banner: t.statusText(), follow: t.follow, timestamps: t.timestamps },
      ),
    activeIndex: () => (app.active ? app.tabs.indexOf(app.active) : -1),
    screenText: (i?: number) => terminalAt(i)?.screenText() ?? '',
    bufferText: (i?: number) => terminalAt(i)?.bufferText() ?? '',
    /** A logs tab's lines on the page, its current match, and what it dropped. */
    logText: (i?: number) => logAt(i)?.text() ?? '',
    logMatch: (i?: number) => logAt(i)?.currentMatch() ?? '',
    lastUpload: () => app.files.lastUpload,
    download: (path: string) => app.files.downloadPath(path, false),
  };
  (window as unknown as { __podshell: typeof hook }).__podshell = hook;
  await tree.load(cluster && namespace ? { cluster, namespace } : undefined);
}

void main();
