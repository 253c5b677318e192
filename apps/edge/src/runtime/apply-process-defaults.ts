// Imported for its effect, second in main.ts: the worker starts again with its memory defaults when one is
// missing (runtime/process-defaults.ts), before sharp, onnxruntime or anything else is loaded.
import { applyProcessDefaults } from '@edgeloop/config';
import { EDGE_PROCESS_DEFAULTS } from './process-defaults';

applyProcessDefaults('edgeloop edge', EDGE_PROCESS_DEFAULTS);
