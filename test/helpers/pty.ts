// The PTY pair lives in sim/ (the fleet simulator and the demo use it too); tests use the same one.
export { PtyPair, createPtyPair } from '../../sim/pty.js';
