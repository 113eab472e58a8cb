// The side tree: clusters → namespaces → pods → containers (role tree/treeitem, a roving tabindex,
// arrow keys as in a file tree). A namespace, once expanded, follows its pods live through the
// gateway's event stream (EventSource on …/pods?watch=1).

import { api, ApiError, describeError, podsPath, send, type Cluster, type Pod, type Target } from './api.ts';

interface Node {
  el: HTMLLIElement;
  row: HTMLElement;
  group?: HTMLUListElement;
  kind: 'cluster' | 'namespace' | 'pod' | 'container';
  expanded: boolean;
  load?: () => Promise<void>;
  target?: Target;
}

export interface TreeHost {
  /** Opens a shell tab. */
  open(target: Target): void;
  /** Opens a logs tab for a container. */
  openLogs(target: Target): void;
}

/** kubectl's AGE: 45s, 12m, 3h, 5d. */
export function age(created: string, now = Date.now()): string {
  const t = Date.parse(created);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 3600 * 2) return `${Math.floor(s / 60)}m`;
  if (s < 86400 * 2) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export class PodTree {
  readonly root: HTMLUListElement;
  private readonly _host: TreeHost;
  private readonly _nodes = new Map<HTMLElement, Node>();
  private readonly _streams = new Map<string, EventSource>();
  private _filter = '';

  constructor(root: HTMLUListElement, host: TreeHost) {
    this.root = root;
    this._host = host;
    root.setAttribute('role', 'tree');
    root.addEventListener('keydown', (e) => this._key(e));
    root.addEventListener('click', (e) => this._click(e));
    setInterval(() => this._refreshAges(), 15_000);
  }

  /** Lists the clusters; expands the current one (or `only`) and its namespace. */
  async load(expand?: { cluster: string; namespace: string }): Promise<void> {
    let clusters: Cluster[];
    try {
      ({ clusters } = await api<{ clusters: Cluster[] }>('GET', '/api/clusters'));
    } catch (err) {
      this.root.replaceChildren(this._message(describeError(err)));
      return;
    }
    this.root.replaceChildren();
    for (const cluster of clusters) {
      const node = this._add(this.root, 'cluster', cluster.name, `${cluster.server}${cluster.current ? ' (current)' : ''}`);
      node.el.dataset.cluster = cluster.name;
      node.load = () => this._loadNamespaces(node, cluster);
      const wanted = expand ? expand.cluster === cluster.name : cluster.current;
      if (wanted) await this._expand(node, true).then(() => this._expandNamespace(node, expand?.namespace ?? cluster.namespace));
    }
    const first = this.root.querySelector<HTMLElement>('[role=treeitem]');
    if (first) first.tabIndex = 0;
  }

  /** Shows only pods whose name contains `text` (and the clusters and namespaces holding them). */
  filter(text: string): void {
    this._filter = text.trim().toLowerCase();
    for (const node of this._nodes.values()) {
      if (node.kind !== 'pod') continue;
      node.el.hidden = this._filter !== '' && !(node.el.dataset.pod ?? '').toLowerCase().includes(this._filter);
    }
  }

  private _message(text: string): HTMLLIElement {
    const li = document.createElement('li');
    li.className = 'tree-message';
    li.setAttribute('role', 'none');
    li.textContent = text;
    return li;
  }

  private _add(parent: HTMLUListElement, kind: Node['kind'], name: string, detail = '', expandable = true): Node {
    const el = document.createElement('li');
    el.setAttribute('role', 'treeitem');
    el.className = `node ${kind}`;
    el.tabIndex = -1;
    if (expandable) el.setAttribute('aria-expanded', 'false');
    const row = document.createElement('div');
    row.className = 'row';
    const twisty = document.createElement('span');
    twisty.className = 'twisty';
    twisty.setAttribute('aria-hidden', 'true');
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = name;
    const info = document.createElement('span');
    info.className = 'detail';
    info.textContent = detail;
    row.append(twisty, label, info);
    el.append(row);
    parent.append(el);
    const node: Node = { el, row, kind, expanded: false };
    this._nodes.set(el, node);
    return node;
  }

  private _groupOf(node: Node): HTMLUListElement {
    if (!node.group) {
      node.group = document.createElement('ul');
      node.group.setAttribute('role', 'group');
      node.el.append(node.group);
    }
    return node.group;
  }

  private async _expand(node: Node, open: boolean): Promise<void> {
    if (!node.el.hasAttribute('aria-expanded')) return;
    node.expanded = open;
    node.el.setAttribute('aria-expanded', String(open));
    if (node.group) node.group.hidden = !open;
    if (open && node.load) {
      const load = node.load;
      node.load = undefined;
      try {
        await load();
      } catch (err) {
        this._groupOf(node).replaceChildren(this._message(describeError(err)));
      }
    }
  }

  private async _expandNamespace(clusterNode: Node, namespace: string): Promise<void> {
    const el = clusterNode.group?.querySelector<HTMLLIElement>(`:scope > li[data-namespace="${CSS.escape(namespace)}"]`);
    const node = el && this._nodes.get(el);
    if (node) await this._expand(node, true);
  }

  private async _loadNamespaces(node: Node, cluster: Cluster): Promise<void> {
    const group = this._groupOf(node);
    const { namespaces } = await api<{ namespaces: string[] }>('GET', `/api/clusters/${encodeURIComponent(cluster.name)}/namespaces`);
    group.replaceChildren();
    for (const ns of namespaces) {
      const child = this._add(group, 'namespace', ns);
      child.el.dataset.namespace = ns;
      child.load = async () => this._watchPods(child, cluster.name, ns);
    }
  }

  private _watchPods(node: Node, cluster: string, namespace: string): void {
    const group = this._groupOf(node);
    group.replaceChildren(this._message('loading…'));
    const key = `${cluster}/${namespace}`;
    this._streams.get(key)?.close();
    const pods = new Map<string, Pod>();
    let fresh = true;
    const source = new EventSource(`${podsPath(cluster, namespace)}?watch=1`);
    this._streams.set(key, source);
    source.onopen = () => (fresh = true);
    source.onmessage = (e) => {
      const event = JSON.parse(e.data as string) as { type: 'ADDED' | 'MODIFIED' | 'DELETED'; pod: Pod };
      if (fresh) {
        // A (re)opened stream starts with ADDED for every pod there is: it replaces the list.
        fresh = false;
        pods.clear();
      }
      if (event.type === 'DELETED') pods.delete(event.pod.name);
      else pods.set(event.pod.name, event.pod);
      this._renderPods(group, cluster, namespace, pods);
    };
    source.addEventListener('error', (e) => {
      const data = (e as MessageEvent).data;
      if (typeof data === 'string') {
        const { error } = JSON.parse(data) as { error: { code: string; message: string; status: number } };
        group.replaceChildren(this._message(describeError(new ApiError(error.code, error.message, error.status))));
        return;
      }
      if (source.readyState === EventSource.CLOSED) {
        // Refused before the stream started: ask once more to learn why, in the gateway's words.
        void send('GET', podsPath(cluster, namespace))
          .then(() => group.replaceChildren(this._message('the pod list stream was refused; expand again to retry')))
          .catch((err: unknown) => group.replaceChildren(this._message(describeError(err))));
        node.load = async () => this._watchPods(node, cluster, namespace);
      }
    });
    if (pods.size === 0) this._renderPods(group, cluster, namespace, pods, true);
  }

  private _renderPods(group: HTMLUListElement, cluster: string, namespace: string, pods: Map<string, Pod>, loading = false): void {
    const focused = (document.activeElement as HTMLElement | null)?.closest('li[role=treeitem]') as HTMLElement | null;
    const focusKey = focused && group.contains(focused) ? `${focused.dataset.pod}/${focused.dataset.container ?? ''}` : undefined;
    const expanded = new Set([...group.querySelectorAll<HTMLElement>(':scope > li[aria-expanded=true]')].map((li) => li.dataset.pod));
    for (const li of group.querySelectorAll<HTMLElement>('li[role=treeitem]')) this._nodes.delete(li);
    group.replaceChildren();
    if (pods.size === 0) {
      group.append(this._message(loading ? 'loading…' : 'no pods'));
      return;
    }
    for (const pod of [...pods.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const detail = `${pod.phase} ${pod.ready} ↻${pod.restarts} ${age(pod.created)}`;
      const node = this._add(group, 'pod', pod.name, detail);
      node.el.dataset.pod = pod.name;
      node.el.dataset.phase = pod.phase;
      node.el.dataset.created = pod.created;
      node.el.setAttribute('aria-label', `pod ${pod.name}, ${pod.phase}, ready ${pod.ready}, ${pod.restarts} restarts, age ${age(pod.created)}`);
      node.target = { cluster, namespace, pod: pod.name };
      node.load = async () => {
        const g = this._groupOf(node);
        for (const c of pod.containers) {
          // An ephemeral (debug) container reads "debugger-ab12c · ephemeral · running · target app".
          const detail = c.ephemeral ? `· ephemeral · ${c.state}${c.target ? ` · target ${c.target}` : ''}` : `${c.state}${c.name === pod.defaultContainer ? ' (default)' : ''}`;
          const child = this._add(g, 'container', c.name, detail, false);
          child.el.dataset.pod = pod.name;
          child.el.dataset.container = c.name;
          if (c.ephemeral) {
            child.el.dataset.ephemeral = 'true';
            child.el.setAttribute('aria-label', `ephemeral container ${c.name}, ${c.state}${c.target ? `, target ${c.target}` : ''}`);
          }
          child.target = { cluster, namespace, pod: pod.name, container: c.name };
          const logs = document.createElement('button');
          logs.type = 'button';
          logs.className = 'logs-button';
          logs.tabIndex = -1;
          logs.textContent = 'logs';
          logs.title = `Logs of ${pod.name}/${c.name} (L)`;
          logs.setAttribute('aria-label', `Logs of ${c.name}`);
          child.row.append(logs);
        }
      };
      if (this._filter && !pod.name.toLowerCase().includes(this._filter)) node.el.hidden = true;
      if (expanded.has(pod.name)) void this._expand(node, true);
    }
    if (focusKey) {
      const [p, c] = focusKey.split('/');
      const again = [...group.querySelectorAll<HTMLElement>('li[role=treeitem]')].find((li) => li.dataset.pod === p && (li.dataset.container ?? '') === c);
      if (again) this._focus(again);
    }
  }

  private _refreshAges(): void {
    for (const node of this._nodes.values()) {
      if (node.kind !== 'pod' || !node.el.dataset.created) continue;
      const detail = node.row.querySelector('.detail');
      if (detail) detail.textContent = detail.textContent!.replace(/\S+$/, age(node.el.dataset.created));
    }
  }

  private _visible(): HTMLElement[] {
    return [...this.root.querySelectorAll<HTMLElement>('li[role=treeitem]')].filter((li) => li.offsetParent !== null);
  }

  private _focus(el: HTMLElement): void {
    for (const li of this.root.querySelectorAll<HTMLElement>('li[tabindex="0"]')) li.tabIndex = -1;
    el.tabIndex = 0;
    el.focus();
  }

  private _activate(node: Node): void {
    if (node.target) this._host.open(node.target);
    else void this._expand(node, !node.expanded);
  }

  private _click(e: MouseEvent): void {
    const el = (e.target as HTMLElement).closest('li[role=treeitem]') as HTMLElement | null;
    const node = el && this._nodes.get(el);
    if (!node || !el) return;
    this._focus(el);
    if ((e.target as HTMLElement).classList.contains('twisty')) void this._expand(node, !node.expanded);
    else if ((e.target as HTMLElement).classList.contains('logs-button') && node.target) this._host.openLogs(node.target);
    else this._activate(node);
  }

  private _key(e: KeyboardEvent): void {
    const el = (e.target as HTMLElement).closest('li[role=treeitem]') as HTMLElement | null;
    const node = el && this._nodes.get(el);
    if (!node || !el) return;
    const items = this._visible();
    const at = items.indexOf(el);
    switch (e.key) {
      case 'ArrowDown':
        if (at + 1 < items.length) this._focus(items[at + 1]!);
        break;
      case 'ArrowUp':
        if (at > 0) this._focus(items[at - 1]!);
        break;
      case 'Home':
        if (items[0]) this._focus(items[0]);
        break;
      case 'End':
        if (items.length) this._focus(items[items.length - 1]!);
        break;
      case 'ArrowRight':
        if (el.getAttribute('aria-expanded') === 'false') void this._expand(node, true);
        else if (node.group?.querySelector('li[role=treeitem]')) this._focus(node.group.querySelector<HTMLElement>('li[role=treeitem]')!);
        break;
      case 'ArrowLeft':
        if (node.expanded) void this._expand(node, false);
        else {
          const parent = el.parentElement?.closest('li[role=treeitem]') as HTMLElement | null;
          if (parent) this._focus(parent);
        }
        break;
      case 'Enter':
      case ' ':
        this._activate(node);
        break;
      case 'l':
      case 'L':
        if (node.kind !== 'container' || !node.target) return;
        this._host.openLogs(node.target);
        break;
      default:
        return;
    }
    e.preventDefault();
  }
}
