export declare const z: number;
