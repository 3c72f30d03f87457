/** Facts about the language that tools need without loading the parser. */
export const LANGUAGE_VERSION = 1;
export const FILE_EXTENSION = '.mase';
