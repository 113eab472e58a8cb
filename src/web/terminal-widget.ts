// The xterm.js terminal of a terminal tab, as the page sets it up: its theme following the
// browser's colour scheme, its addons (fit, search, links, Unicode 11, WebGL with the DOM renderer
// as fallback), what it does with the escape sequences a pod may send (OSC 52 clipboard writes
// ignored, OSC 7 working directory kept), the keyboard shortcuts, copy on select, and files dropped
// on it. What is typed, sizes and drops go to the tab through `WidgetEvents`; the tab (terminal.ts)
// joins the session and feeds the terminal its output.

import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { WebglAddon } from '@xterm/addon-webgl';
import { Terminal, type ITheme } from '@xterm/xterm';

const dark: ITheme = { background: '#1e1e1e', foreground: '#d4d4d4', cursor: '#d4d4d4', selectionBackground: '#264f78' };
const light: ITheme = { background: '#ffffff', foreground: '#1e1e1e', cursor: '#1e1e1e', selectionBackground: '#add6ff' };

const encoder = new TextEncoder();

/** What the terminal tells its tab. */
export interface WidgetEvents {
  /** Bytes typed or pasted. */
  input(data: Uint8Array): void;
  /** The terminal's size in cells changed. */
  resized(cols: number, rows: number): void;
  /** Files dropped on the terminal. */
  dropped(files: File[]): void;
  /** The page's font size now. */
  fontSize(): number;
  /** Ctrl+plus, Ctrl+minus, Ctrl+0: the font size wanted (6 to 40). */
  fontSizeWanted(size: number): void;
  /** Something to tell the person (the browser refused to read the clipboard). */
  warn(text: string): void;
}

export interface TerminalWidget {
  readonly term: Terminal;
  readonly search: SearchAddon;
  /** Sizes the terminal to its element (`fit()` throws when the element is not laid out yet). */
  readonly fitAddon: FitAddon;
  /** `webgl` or `dom`: which renderer draws the terminal (dom without WebGL, or after losing its context). */
  readonly renderer: 'webgl' | 'dom';
  /** The shell's working directory when it reports one (OSC 7). */
  readonly cwd: string | undefined;
  dispose(): void;
}

/** An xterm.js terminal opened in `screen` with the page's settings, its events going to `events`. */
export function createTerminalWidget(screen: HTMLElement, settings: { fontSize: number; screenReaderMode: boolean }, events: WidgetEvents): TerminalWidget {
  const scheme = matchMedia('(prefers-color-scheme: dark)');
  const term = new Terminal({
    allowProposedApi: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: settings.fontSize,
    scrollback: 5000,
    screenReaderMode: settings.screenReaderMode,
    theme: scheme.matches ? dark : light,
  });
  const followScheme = () => (term.options.theme = scheme.matches ? dark : light);
  scheme.addEventListener('change', followScheme);
  const fitAddon = new FitAddon();
  const search = new SearchAddon();
  term.loadAddon(fitAddon);
  term.loadAddon(search);
  term.loadAddon(new WebLinksAddon());
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  let cwd: string | undefined;
  let renderer: 'webgl' | 'dom' = 'dom';
  // OSC 52 would let a program in the pod write the page's clipboard: ignored.
  term.parser.registerOscHandler(52, () => true);
  // OSC 7 (file://host/path): the shell's working directory, the default upload folder.
  term.parser.registerOscHandler(7, (data) => {
    try {
      const url = new URL(data);
      if (url.protocol === 'file:') cwd = decodeURIComponent(url.pathname);
    } catch {
      // not a URL: ignored
    }
    return true;
  });
  term.open(screen);
  try {
    const webgl = new WebglAddon();
    webgl.onContextLoss(() => {
      webgl.dispose();
      renderer = 'dom';
    });
    term.loadAddon(webgl);
    renderer = 'webgl';
  } catch {
    renderer = 'dom'; // no WebGL here (e.g. a browser without a GPU): xterm's DOM renderer draws
  }
  term.attachCustomKeyEventHandler((e) => shortcut(term, e, events));
  term.onData((text) => events.input(encoder.encode(text)));
  term.onBinary((text) => events.input(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff)));
  term.onResize(({ cols, rows }) => events.resized(cols, rows));
  term.onSelectionChange(() => {
    const text = term.getSelection();
    if (text) void navigator.clipboard?.writeText(text).catch(() => undefined);
  });
  screen.addEventListener('dragover', (e) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    e.preventDefault();
    screen.classList.add('dropping');
  });
  screen.addEventListener('dragleave', () => screen.classList.remove('dropping'));
  screen.addEventListener('drop', (e) => {
    screen.classList.remove('dropping');
    const files = [...(e.dataTransfer?.files ?? [])];
    if (files.length === 0) return;
    e.preventDefault();
    events.dropped(files);
  });
  return {
    term,
    search,
    fitAddon,
    get renderer() {
      return renderer;
    },
    get cwd() {
      return cwd;
    },
    dispose: () => {
      scheme.removeEventListener('change', followScheme);
      term.dispose();
    },
  };
}

/** The page's keys in a terminal: false when handled here (xterm then ignores the key). */
function shortcut(term: Terminal, e: KeyboardEvent, events: WidgetEvents): boolean {
  if (e.type !== 'keydown') return true;
  const key = e.key.toLowerCase();
  if (e.ctrlKey && e.shiftKey && key === 'c') {
    const text = term.getSelection();
    if (text) void navigator.clipboard?.writeText(text).catch(() => undefined);
    e.preventDefault();
    return false;
  }
  if (e.ctrlKey && e.shiftKey && key === 'v') {
    e.preventDefault();
    void navigator.clipboard
      ?.readText()
      .then((text) => term.paste(text))
      .catch(() => events.warn('The browser did not allow reading the clipboard: paste with the browser\'s menu or Ctrl+V where it works.'));
    return false;
  }
  if (e.ctrlKey && !e.altKey && (e.key === '+' || e.key === '=' || e.key === '-' || e.key === '0')) {
    e.preventDefault();
    const size = e.key === '0' ? 14 : events.fontSize() + (e.key === '-' ? -1 : 1);
    events.fontSizeWanted(Math.min(40, Math.max(6, size)));
    return false;
  }
  // Alt+digit and Alt+PageUp/PageDown switch tabs: the page handles them.
  if (e.altKey && !e.ctrlKey && (/^[1-9]$/.test(e.key) || e.key === 'PageUp' || e.key === 'PageDown')) return false;
  return true;
}
