import { readFileSync } from 'node:fs';

/** MB = 10^6 bytes, from the kB of /proc. */
const mb = (kb: number) => Math.round((kb * 1024) / 1e5) / 10;

export interface ProcStatus {
  vmRssMb: number;
  vmHwmMb: number;
  rssAnonMb: number;
  rssFileMb: number;
}

/** VmRSS, VmHWM (peak), RssAnon, RssFile of a process; undefined once it is gone. */
export function procStatus(pid: number): ProcStatus | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { vmRssMb: mb(kb('VmRSS')), vmHwmMb: mb(kb('VmHWM')), rssAnonMb: mb(kb('RssAnon')), rssFileMb: mb(kb('RssFile')) };
}

/** Resident MB by what is mapped (smaps): anonymous mappings, the malloc [heap], each shared object by name. */
export function residentByMapping(pid: number): Record<string, number> {
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return {};
  }
  const kbByName: Record<string, number> = {};
  let name = '';
  for (const line of smaps.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      name = bucket(header[1].trim());
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kbByName[name] = (kbByName[name] ?? 0) + Number(rss[1]);
  }
  return Object.fromEntries(
    Object.entries(kbByName)
      .map(([k, v]) => [k, mb(v)] as const)
      .filter(([, v]) => v >= 0.5)
      .sort((a, b) => b[1] - a[1]),
  );
}

function bucket(mapped: string): string {
  if (mapped === '') return 'anonymous';
  if (mapped.startsWith('[')) return mapped;
  if (mapped.endsWith('/bin/node')) return 'node binary';
  const file = mapped.split('/').pop() ?? mapped;
  if (/^libvips|^sharp-/.test(file)) return 'sharp / libvips';
  if (/onnxruntime/.test(file)) return 'onnxruntime';
  if (mapped.startsWith('/usr/lib') || mapped.startsWith('/lib')) return 'system libraries';
  return file;
}
