import { y } from "../sandbox/index.js";
export const z = y;
//# sourceMappingURL=main.js.map