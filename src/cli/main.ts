import { y } from "../sandbox/index.ts"; export const z = y;
