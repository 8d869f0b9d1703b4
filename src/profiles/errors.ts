/** Input `weft profile` cannot turn into a profile: the message names the file and what is wrong. */
export class ProfileError extends Error {
  override name = 'ProfileError';
}
