export * from './errors.ts';
export * from './base64.ts';
export * from './channel.ts';
export * from './frame.ts';
export * from './request.ts';
export * from './resize.ts';
export * from './status.ts';
export * from './subprotocol.ts';
