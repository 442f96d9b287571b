/**
 * The error base, re-exported for the layers above crypto. It lives in crypto/ because crypto is the
 * bottom layer and imports nothing of sealroom's (README, "Layout").
 */
export { SealroomError, reasonToCode } from '../crypto/sealroom-error.ts';
