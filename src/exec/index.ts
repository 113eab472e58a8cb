export * from './errors.ts';
export * from './run.ts';
export * from './session.ts';
export * from './dial.ts';
export * from './portforward.ts';
export * from './debug.ts';
