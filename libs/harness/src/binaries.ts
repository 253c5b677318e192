/** Binary lookup lives in @edgeloop/embedded (production uses it too); the harness's servers find theirs through it. */
export * from '@edgeloop/embedded/binaries';
