/** This library's version (package.json's; a test keeps them equal): the default tag of its images. */
export const LIBRARY_VERSION = '0.1.0';
