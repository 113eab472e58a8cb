// The replay page (/replay/:id, docs/web.md "Recordings"): the session's asciicast, fetched from
// GET /api/sessions/:id/recording with the sign-in's cookie, played by asciinema-player.

import * as AsciinemaPlayer from 'asciinema-player';

interface ReplayHook {
  /** 'loading', 'ready' or 'failed: <sentence>'. */
  state: string;
  player: { getDuration(): number | undefined; getCurrentTime(): number | Promise<number>; play(): unknown; seek(where: number): unknown } | null;
}

declare global {
  interface Window {
    __podshellReplay: ReplayHook;
  }
}

const hook: ReplayHook = { state: 'loading', player: null };
window.__podshellReplay = hook;

function fail(sentence: string): void {
  hook.state = `failed: ${sentence}`;
  const status = document.getElementById('replay-status')!;
  status.textContent = sentence;
  status.dataset.tone = 'error';
}

async function main(): Promise<void> {
  const id = decodeURIComponent(location.pathname.split('/').pop() ?? '');
  const url = `/api/sessions/${encodeURIComponent(id)}/recording`;
  document.getElementById('replay-title')!.textContent = `session ${id}`;
  (document.getElementById('replay-download') as HTMLAnchorElement).href = url;
  let text: string;
  try {
    const res = await fetch(url, { credentials: 'same-origin' });
    if (!res.ok) {
      const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
      return fail(body?.error?.message ?? `the gateway answered ${res.status}`);
    }
    text = await res.text();
  } catch {
    return fail('the gateway cannot be reached');
  }
  const element = document.getElementById('replay-player')!;
  hook.player = AsciinemaPlayer.create({ data: text }, element, { fit: 'width', idleTimeLimit: 2, preload: true }) as ReplayHook['player'];
  document.getElementById('replay-status')!.textContent = '';
  hook.state = 'ready';
}

void main();
