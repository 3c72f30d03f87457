/**
 * VALUE, when it is a number from 0 to 1; otherwise the RangeError a text world's policy
 * argument or parameter gives (the runtime shows it as the user's error, exit 2).
 */
export function unitValue(
  name: string,
  value: number,
  what: 'probability' | 'share' = 'probability',
): number {
  if (!(value >= 0 && value <= 1))
    throw new RangeError(`${name} is a ${what} (0 to 1); it is ${value}`);
  return value;
}
