// node:http without its ES module facade. `import … from 'node:http'` makes Node build a facade
// that reads every export of the module, and some of them (WebSocket, CloseEvent, MessageEvent)
// are getters that load the bundled undici: 50–90 ms of start-up in Node 24, for something
// podshell never uses. process.getBuiltinModule returns the same module object without it.
// (Types still come from `import type … from 'node:http'`, which is erased.)

export const http = process.getBuiltinModule('node:http');
