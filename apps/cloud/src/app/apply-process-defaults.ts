// Imported for its effect, first in main.ts: the cloud starts again with its V8 defaults when one is missing
// (process-defaults.ts), before Nest or anything else is loaded.
import { applyProcessDefaults } from '@edgeloop/config';
import { CLOUD_PROCESS_DEFAULTS } from './process-defaults';

applyProcessDefaults('edgeloop cloud', CLOUD_PROCESS_DEFAULTS);
