import * as z from 'zod';

export const fileStoreSchema = z.strictObject({
  type: z.literal('file'),
  /** A directory (e.g. a mounted Secret volume); each credentials `key` names a file in it. */
  path: z.string().min(1, 'path must not be empty'),
});
export type FileStoreConfig = z.infer<typeof fileStoreSchema>;
