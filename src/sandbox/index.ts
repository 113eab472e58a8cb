import { x } from "../protocol/index.ts"; export const y = x + 1;
