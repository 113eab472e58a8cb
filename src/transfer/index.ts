// File copies to and from containers: kubectl cp's file specs and semantics, tar streamed both
// ways, a no-tar fallback for single files, a path-guarded untar, resumable downloads, integrity
// checks and progress events.

export { isMissingExecutable, type CopyOptions, type CopyResult } from './copy.ts';
export { copyFromPod } from './download.ts';
export { copyToPod } from './upload.ts';
export { IntegrityError, TransferError, type TransferErrorCode } from './errors.ts';
export { defaultLimits, type ExtractLimits } from './extract.ts';
export { parseFileSpec, type FileSpec, type RemoteSpec } from './filespec.ts';
export type { CopyProgress } from './progress.ts';
export { uploadStream, type UploadStreamOptions, type UploadStreamResult } from './stream-upload.ts';
export { downloadStream, prepareDownload, type DownloadStreamOptions, type PreparedDownload } from './stream-download.ts';
