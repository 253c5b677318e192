import { useState } from 'preact/hooks';

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp']);

/** Drop photos here or pick them: only JPEG, PNG or WebP are kept; a refused file is named in the message. */
export function PhotoDrop({ files, onFiles, onError }: { files: File[]; onFiles: (files: File[]) => void; onError: (message: string | undefined) => void }) {
  const [over, setOver] = useState(false);
  function take(list: FileList | null) {
    if (!list) return;
    const all = [...list];
    const refused = all.filter((f) => !IMAGE_TYPES.has(f.type));
    onError(refused.length > 0 ? `${refused.map((f) => f.name).join(', ')}: not an image (JPEG, PNG or WebP only)` : undefined);
    onFiles([...files, ...all.filter((f) => IMAGE_TYPES.has(f.type))]);
  }
  return (
    <div
      class={`drop${over ? ' over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        take(e.dataTransfer?.files ?? null);
      }}
    >
      <label>
        Photos (drop them here or choose){' '}
        <input type="file" accept="image/jpeg,image/png,image/webp" multiple onChange={(e) => take((e.target as HTMLInputElement).files)} />
      </label>
      {files.length > 0 ? (
        <ul class="plain small">
          {files.map((f, i) => (
            <li key={`${f.name}-${i}`}>
              {f.name}{' '}
              <button type="button" class="link" onClick={() => onFiles(files.filter((_, j) => j !== i))} aria-label={`remove ${f.name}`}>
                remove
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
